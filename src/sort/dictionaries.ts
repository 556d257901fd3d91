/**
 * Dictionary-encoded columns (what apache-arrow's tableFromArrays makes of string arrays) are
 * decoded to their value type on the way in: native code sorts and carries plain values, and
 * the output has the value type. This is the one place input is copied rather than borrowed;
 * var-width and fixed-width values are copied as bytes, any other value type through the
 * Arrow builder.
 */
import {
  type Data,
  DataType,
  type Dictionary,
  Field,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Type,
  vectorFromArray,
} from 'apache-arrow';

/** The schema with every dictionary field replaced by its value type. */
export function decodedSchema(schema: Schema): Schema {
  if (!schema.fields.some((f) => DataType.isDictionary(f.type))) return schema;
  return new Schema(
    schema.fields.map((f) =>
      DataType.isDictionary(f.type) ? new Field(f.name, (f.type as Dictionary).dictionary, f.nullable, f.metadata) : f,
    ),
    schema.metadata,
  );
}

/** The batch with its dictionary columns decoded; the batch itself when it has none. */
export function decodeDictionaries(batch: RecordBatch, schema: Schema): RecordBatch {
  const children = batch.data.children as Data[];
  if (!children.some((d) => DataType.isDictionary(d.type))) return batch;
  const decoded = children.map((d) => (DataType.isDictionary(d.type) ? decodeColumn(d as Data<Dictionary>) : d));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children: decoded }));
}

function decodeColumn(data: Data<Dictionary>): Data {
  const dictionary = data.dictionary!;
  const valueType = data.type.dictionary;
  const values = dictionary.data.length === 1 ? dictionary.data[0]! : undefined;
  if (values && values.nullCount === 0) {
    if (isVarBinary(valueType)) return decodeVarBinary(data, values);
    if (values.stride > 0 && valueType.typeId !== Type.Bool && !values.valueOffsets && values.children.length === 0) {
      return decodeFixedWidth(data, values);
    }
  }
  return vectorFromArray([...makeVector(data)], valueType).data[0]!;
}

function isVarBinary(type: DataType): boolean {
  return [Type.Utf8, Type.Binary, Type.LargeUtf8, Type.LargeBinary].includes(type.typeId);
}

function validityOf(data: Data): { bitmap: Uint8Array | null; valid: (row: number) => boolean } {
  if (data.nullCount <= 0) return { bitmap: null, valid: () => true };
  const source = data.nullBitmap!;
  const offset = data.offset;
  const valid = (row: number): boolean => ((source[(offset + row) >> 3]! >> ((offset + row) & 7)) & 1) === 1;
  const bitmap = new Uint8Array((data.length + 7) >> 3);
  for (let row = 0; row < data.length; row++) if (valid(row)) bitmap[row >> 3]! |= 1 << (row & 7);
  return { bitmap, valid };
}

function decodeVarBinary(data: Data<Dictionary>, values: Data): Data {
  const n = data.length;
  const indices = data.values as unknown as ArrayLike<number | bigint>;
  const dictOffsets = values.valueOffsets as unknown as ArrayLike<number | bigint>;
  const dictBytes = values.values as Uint8Array;
  const { bitmap, valid } = validityOf(data);
  const large = values.type.typeId === Type.LargeUtf8 || values.type.typeId === Type.LargeBinary;
  let total = 0;
  for (let row = 0; row < n; row++) {
    if (!valid(row)) continue;
    const k = Number(indices[row]);
    total += Number(dictOffsets[k + 1]) - Number(dictOffsets[k]);
  }
  const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (let row = 0; row < n; row++) {
    if (valid(row)) {
      const k = Number(indices[row]);
      const start = Number(dictOffsets[k]);
      const end = Number(dictOffsets[k + 1]);
      bytes.set(dictBytes.subarray(start, end), at);
      at += end - start;
    }
    offsets[row + 1] = (large ? BigInt(at) : at) as never;
  }
  return makeData({ type: values.type, length: n, nullCount: data.nullCount, nullBitmap: bitmap, data: bytes, valueOffsets: offsets } as never);
}

function decodeFixedWidth(data: Data<Dictionary>, values: Data): Data {
  const n = data.length;
  const stride = values.stride;
  const indices = data.values as unknown as ArrayLike<number | bigint>;
  const source = values.values as unknown as { length: number; constructor: new (n: number) => { [i: number]: unknown } };
  const out = new source.constructor(n * stride);
  const { bitmap, valid } = validityOf(data);
  const from = source as unknown as { [i: number]: unknown };
  for (let row = 0; row < n; row++) {
    if (!valid(row)) continue;
    const k = Number(indices[row]) * stride;
    for (let s = 0; s < stride; s++) out[row * stride + s] = from[k + s];
  }
  return makeData({ type: values.type, length: n, nullCount: data.nullCount, nullBitmap: bitmap, data: out } as never);
}
