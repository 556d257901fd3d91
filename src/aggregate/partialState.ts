/**
 * Rows as a partial aggregation's output without aggregating them: each input row becomes its
 * own group's buffers (count 1, or 0 for a null under count(col); the value itself as sum, min
 * and max; null where the value is null). The final aggregation combines such rows exactly as
 * it combines real partial groups, so a partial aggregation may pass rows through.
 *
 * Why: a partial aggregation that barely reduces its input (A2: 4 M groups in 20 M rows) fills
 * its memory, spills and merges on the map side, and then shuffles nearly as many rows as came
 * in. DataFusion probes the first rows of a partial aggregation and, when the groups are more
 * than a set share of them, stops aggregating and passes the rest through; pipeline.ts does the
 * same with `aggregate.skipPartialRatio` and `aggregate.skipPartialProbeRows`. Spark always
 * aggregates partially.
 *
 * Only what converts without native code is passed through: keys and aggregate inputs that are
 * not dictionary-encoded, and sum or avg of signed integers, of unsigned integers of up to 32
 * bits and of floats (a uint64 sum needs the partial aggregation's overflow check). Min, max and
 * sums of int64 or float64 reuse the input's column as it is.
 */
import { Data, type DataType, Field, Float64, Int64, makeData, RecordBatch, type Schema, Struct, Type } from 'apache-arrow';
import { AggregateFunction } from '../native/addon.js';
import { fieldIndex } from '../sort/columnTypes.js';
import { type AggregateSpec, bufferFields, resolveAggregates } from './aggregates.js';

/** How to turn one batch of the input into partial rows; undefined when some column or
 *  aggregate cannot be passed through (module comment). */
export function passThroughPlan(
  input: Schema,
  groupBy: readonly string[],
  aggregates: readonly (string | AggregateSpec)[],
  output: Schema,
): ((batch: RecordBatch) => RecordBatch) | undefined {
  const fields = input.fields;
  const resolved = resolveAggregates(aggregates, fields);
  const keyColumns = groupBy.map((name) => fieldIndex(fields, name));
  const read = [...keyColumns, ...resolved.flatMap((a) => (a.input ? [fields.indexOf(a.input)] : []))];
  if (read.some((c) => fields[c]!.type.typeId === Type.Dictionary)) return undefined;
  const makers: ((batch: RecordBatch) => Data)[] = keyColumns.map((c) => (batch) => columnData(batch, c));
  for (const aggregate of resolved) {
    const column = aggregate.input ? fields.indexOf(aggregate.input) : -1;
    const type = aggregate.input?.type;
    switch (aggregate.function) {
      case AggregateFunction.COUNT_STAR:
        makers.push((batch) => counts(batch.numRows));
        break;
      case AggregateFunction.COUNT:
        makers.push((batch) => counts(batch.numRows, columnData(batch, column)));
        break;
      case AggregateFunction.MIN:
      case AggregateFunction.MAX:
        makers.push((batch) => columnData(batch, column));
        break;
      case AggregateFunction.SUM: {
        if (!summable(type!)) return undefined;
        const float = type!.typeId === Type.Float;
        makers.push((batch) => (float ? asFloat64(columnData(batch, column)) : asInt64(columnData(batch, column))));
        break;
      }
      case AggregateFunction.AVG:
        if (!summable(type!)) return undefined;
        makers.push((batch) => asFloat64(columnData(batch, column)));
        makers.push((batch) => counts(batch.numRows, columnData(batch, column)));
        break;
      default:
        return undefined;
    }
  }
  // The buffers' types are the partial aggregation's own (aggregates.ts's bufferFields).
  const expected = [...keyColumns.map((c) => fields[c]!.type), ...resolved.flatMap((a) => bufferFields(a).map((f) => f.type))];
  if (expected.length !== output.fields.length || expected.some((t, i) => String(t) !== String(output.fields[i]!.type))) return undefined;
  const struct = new Struct(output.fields as Field[]);
  return (batch) => {
    const children = makers.map((make) => make(batch));
    return new RecordBatch(output, makeData({ type: struct, length: batch.numRows, nullCount: 0, children }));
  };
}

function summable(type: DataType): boolean {
  if (type.typeId === Type.Float) return true;
  if (type.typeId !== Type.Int) return false;
  const int = type as DataType & { isSigned: boolean; bitWidth: number };
  return int.isSigned || int.bitWidth <= 32;
}

function columnData(batch: RecordBatch, column: number): Data {
  return batch.data.children[column]!;
}

// A sliced Data (a filter's runs) keeps its whole validity bitmap and an offset into it, while
// its values buffer is cut to the slice (apache-arrow's Data.slice): bits are read at
// offset + i, values at i.
function isValid(data: Data, i: number): boolean {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return true;
  const bit = data.offset + i;
  return ((data.nullBitmap[bit >> 3]! >> (bit & 7)) & 1) === 1;
}

/** A validity bitmap of `data`'s rows from bit 0, or null when none is null. */
function validityOf(data: Data): Uint8Array | null {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return null;
  const bitmap = new Uint8Array((data.length + 7) >> 3);
  for (let i = 0; i < data.length; i++) if (isValid(data, i)) bitmap[i >> 3]! |= 1 << (i & 7);
  return bitmap;
}

/** int64 counts: 1 per row, or per non-null row of `of`. */
function counts(length: number, of?: Data): Data {
  const values = new BigInt64Array(length);
  const words = new Int32Array(values.buffer);
  for (let i = 0; i < length; i++) words[2 * i] = of === undefined || isValid(of, i) ? 1 : 0;
  return makeData({ type: new Int64(), length, nullCount: 0, data: values });
}

function asInt64(data: Data): Data {
  if (data.type.typeId === Type.Int && (data.type as DataType & { bitWidth: number }).bitWidth === 64) return data;
  const values = new BigInt64Array(data.length);
  const words = new Int32Array(values.buffer);
  const input = data.values as ArrayLike<number>;
  for (let i = 0; i < data.length; i++) {
    const value = input[i]!;
    words[2 * i] = value | 0;
    words[2 * i + 1] = value < 0 ? -1 : 0;
  }
  return makeData({ type: new Int64(), length: data.length, nullCount: data.nullCount, nullBitmap: validityOf(data), data: values });
}

function asFloat64(data: Data): Data {
  if (data.type.typeId === Type.Float && (data.type as DataType & { precision: number }).precision === 2) return data;
  const values = new Float64Array(data.length);
  const input = data.values as ArrayLike<number | bigint>;
  for (let i = 0; i < data.length; i++) values[i] = Number(input[i]!);
  return makeData({ type: new Float64(), length: data.length, nullCount: data.nullCount, nullBitmap: validityOf(data), data: values });
}
