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
import { addon, type NativeColumnType } from '../native/addon.js';
import { nativeOutputBatches } from '../sort/arrowBatches.js';
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
  const reader = addon.segmentReaderOpen(path, offset, length, types, expectedCrc);
  let counted = 0;
  const count = (): void => {
    const total = addon.segmentReaderCpuNanos(reader);
    onCpuNanos(total - counted);
    counted = total;
  };
  try {
    yield* nativeOutputBatches(schema, async () => {
      const output = await addon.segmentReaderNext(reader);
      count();
      return output;
    });
  } finally {
    addon.segmentReaderClose(reader);
  }
}
