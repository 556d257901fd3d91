/**
 * Arrow record batches to and from native code, without copying column buffers.
 *
 * In: each column's buffers are passed as the typed arrays apache-arrow holds. Arrow JS slices
 * fixed-width values and var-width offsets, so they start at row 0; validity bitmaps and
 * boolean values are not sliced and are passed with the bit offset of row 0 (Data.offset).
 *
 * Out: native code returns malloc'd buffers as ArrayBuffers it gave up; they are viewed with the
 * typed array each Arrow type expects and assembled with makeData. Their bytes are outside any
 * grant and, left to V8, live until a garbage collection: a sort's output waiting for GC reached
 * ~110 MB in S2's reduce stage. So a consumer of the engine's own that copies a batch and never
 * reads it again (serialization, the shuffle writer) releases it (releaseNativeBatch), which
 * frees the bytes at once. Batches a user function could have kept are never released.
 */
import { type Data, makeData, RecordBatch, type Schema, Struct, Type, type TypeMap } from 'apache-arrow';
import type { NativeBatch, NativeColumn, NativeColumnType, NativeOutputBatch } from '../native/addon.js';
import { addon, PhysicalType } from '../native/addon.js';

/** The native buffers behind each batch fromNativeBatch made and nobody released yet. */
const nativeBuffers = new WeakMap<RecordBatch, ArrayBuffer[]>();

/** The batch's columns `columns[i]` (default: all, in order) as native columns of `types[i]`. */
export function toNativeBatch(
  batch: RecordBatch,
  types: readonly NativeColumnType[],
  columns?: readonly number[],
): NativeBatch {
  const nativeColumns: NativeColumn[] = types.map((type, index) => {
    const data = batch.data.children[columns ? columns[index]! : index] as Data;
    const hasNulls = data.nullCount > 0;
    return {
      validity: hasNulls ? data.nullBitmap! : null,
      validityOffset: data.offset,
      values: data.values as ArrayBufferView,
      valuesBitOffset: type.physical === PhysicalType.BOOL ? data.offset : 0,
      offsets: type.physical === PhysicalType.VAR_BINARY ? (data.valueOffsets as Int32Array | BigInt64Array) : null,
    };
  });
  return { numRows: batch.numRows, columns: nativeColumns };
}

export function fromNativeBatch<T extends TypeMap>(schema: Schema<T>, output: NativeOutputBatch): RecordBatch<T> {
  const length = output.numRows;
  const children = schema.fields.map((field, index) => {
    const column = output.columns[index]!;
    const type = field.type;
    const ArrayType = type.ArrayType as unknown as new (buffer: ArrayBuffer) => ArrayBufferView;
    return makeData({
      type,
      length,
      nullCount: column.nullCount,
      nullBitmap: column.validity ? new Uint8Array(column.validity) : null,
      data: new ArrayType(column.values),
      ...(column.offsets ? { valueOffsets: offsetsView(type.typeId, column.offsets) } : {}),
    } as never) as Data;
  });
  const struct = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  const batch = new RecordBatch(schema, struct) as RecordBatch<T>;
  nativeBuffers.set(batch, buffersOf(output));
  return batch;
}

function buffersOf(output: NativeOutputBatch): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const column of output.columns) {
    if (column.validity) buffers.push(column.validity);
    buffers.push(column.values);
    if (column.offsets) buffers.push(column.offsets);
  }
  return buffers;
}

/**
 * The batches of a native output, `next()` after `next()` until one of 0 rows (which is freed:
 * it still has its var-width columns' one offset). One call runs ahead: while the consumer
 * works on a batch (inserts it into an operator, encodes it, writes it), the native side
 * already produces the next one on a worker, so that the two overlap instead of taking turns.
 * That is one output batch more in flight per output (outside grants, bounded by the batch
 * size). When the consumer stops early, the call ahead is awaited and its batch freed before
 * the generator returns, so the operator behind `next` can be closed right after.
 */
export async function* nativeOutputBatches<T extends TypeMap>(schema: Schema<T>, next: () => Promise<NativeOutputBatch>): AsyncGenerator<RecordBatch<T>, void, undefined> {
  let ahead: Promise<NativeOutputBatch> | undefined = observed(next());
  try {
    for (;;) {
      const output = await ahead;
      ahead = undefined;
      if (output.numRows === 0) {
        releaseNativeOutput(output);
        return;
      }
      ahead = observed(next());
      yield fromNativeBatch(schema, output);
    }
  } finally {
    // The consumer stopped (or fromNativeBatch threw): nothing will read what ran ahead, and
    // its failure, if it failed, is not this consumer's to see.
    if (ahead) await ahead.then(releaseNativeOutput, () => undefined);
  }
}

/** `promise`, with a handler attached at once: a call running ahead may fail while its consumer
 *  is busy elsewhere, which must not count as an unhandled rejection (the failure is seen when
 *  the consumer awaits it). */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Frees an output batch that is not made a RecordBatch (the empty one that ends an output
 *  still has its var-width columns' one offset). */
export function releaseNativeOutput(output: NativeOutputBatch): void {
  addon.releaseOutputBuffers(buffersOf(output));
}

/**
 * Frees the native buffers of a batch fromNativeBatch made; other batches are left alone. The
 * batch, its slices and every view of its columns read as empty afterwards: call it only where
 * the engine consumed the batch (copied it, and awaited any native work that read it) and no
 * user code has seen it.
 */
export function releaseNativeBatch(batch: RecordBatch): void {
  const buffers = nativeBuffers.get(batch);
  if (!buffers) return;
  nativeBuffers.delete(batch);
  addon.releaseOutputBuffers(buffers);
}

function offsetsView(typeId: Type, buffer: ArrayBuffer): Int32Array | BigInt64Array {
  // Large utf8 and large binary have 64-bit offsets.
  return typeId === Type.LargeUtf8 || typeId === Type.LargeBinary ? new BigInt64Array(buffer) : new Int32Array(buffer);
}
