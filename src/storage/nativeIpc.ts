/**
 * Arrow IPC messages in a byte range of a file, decoded natively on a worker thread a record
 * batch at a time (native/core/ipc_segment_reader.h): a shuffle segment, or a run of an IPC
 * file's record batches. The batches' buffers are native output (arrowBatches.ts): the engine's
 * own consumers release them once copied.
 *
 * Only flat schemas of the types native code knows, without dictionaries, are read this way;
 * nativeIpcTypes says whether a schema is one, and callers fall back to apache-arrow's reader.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { addon, type NativeColumnType, type NativeOutputBatch, type SegmentReaderHandle } from '../native/addon.js';
import { fromNativeBatch, nativeOutputBatches, releaseNativeOutput } from '../sort/arrowBatches.js';
import { nativeTypeOf } from '../sort/columnTypes.js';

/** The native column types of `schema`, or undefined when native code cannot decode it (a
 *  dictionary, or a type native code does not carry). */
export function nativeIpcTypes(schema: Schema): NativeColumnType[] | undefined {
  const types = schema.fields.map((field) => nativeTypeOf(field.type));
  return types.every((type) => type !== undefined) ? (types as NativeColumnType[]) : undefined;
}

/**
 * The record batches of the IPC messages in [offset, offset + length) of `path`. The decoding's
 * CPU time (worker threads) goes to `onCpuNanos` as it is spent: it is the task's native work.
 * With `expectedCrc`, the range's CRC-32 is checked as it is read: the last step rejects
 * (IPC_CORRUPT) when it does not match, after the batches before it were yielded.
 */
export async function* readIpcRange(
  path: string,
  offset: number,
  length: number,
  schema: Schema,
  types: NativeColumnType[],
  onCpuNanos: (nanos: number) => void = () => undefined,
  expectedCrc?: number,
): AsyncGenerator<RecordBatch, void, undefined> {
  const input = new IpcRangeInput(path, offset, length, schema, types, onCpuNanos, expectedCrc);
  try {
    yield* nativeOutputBatches(schema, () => input.nextOutput());
  } finally {
    input.close();
  }
}

/**
 * The record batches of a byte range of an IPC file as an operator's input: read one at a time
 * into JavaScript (`next`: the operator is made from the first, a partial aggregation probes a
 * few), and the rest inserted by native code straight from the reader (`reader`, for
 * HashAggregator.insertFromReader), with no JavaScript per batch. Nothing is read ahead, so
 * the reader is idle whenever `next` has resolved. Decoding CPU of `next` goes to `onCpuNanos`;
 * a native insert counts it as the operator's.
 */
export class IpcRangeInput {
  readonly reader: SegmentReaderHandle;
  private counted = 0;
  private closed = false;

  constructor(
    path: string,
    offset: number,
    length: number,
    readonly schema: Schema,
    types: NativeColumnType[],
    private readonly onCpuNanos: (nanos: number) => void,
    /** readIpcRange's checksum of the range. */
    expectedCrc?: number,
  ) {
    this.reader = addon.segmentReaderOpen(path, offset, length, types, expectedCrc);
  }

  /** The next batch, or undefined at the end. */
  async next(): Promise<RecordBatch | undefined> {
    const output = await this.nextOutput();
    if (output.numRows > 0) return fromNativeBatch(this.schema, output);
    releaseNativeOutput(output);
    return undefined;
  }

  /** The next native output batch (0 rows at the end), its decoding CPU counted. */
  async nextOutput(): Promise<NativeOutputBatch> {
    const output = await addon.segmentReaderNext(this.reader);
    const total = addon.segmentReaderCpuNanos(this.reader);
    this.onCpuNanos(total - this.counted);
    this.counted = total;
    return output;
  }

  /** Closes the file; idempotent. Not while a call on the reader runs (the reader refuses). */
  close(): void {
    if (this.closed) return;
    addon.segmentReaderClose(this.reader);
    this.closed = true;
  }
}
