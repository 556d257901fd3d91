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
import { fromNativeBatch, releaseNativeOutput } from '../sort/arrowBatches.js';
import { nativeColumnType } from '../sort/columnTypes.js';

/** The native column types of `schema`, or undefined when native code cannot decode it. */
export function nativeIpcTypes(schema: Schema): NativeColumnType[] | undefined {
  try {
    return schema.fields.map((field) => nativeColumnType(field));
  } catch {
    return undefined; // a dictionary or a type native code does not carry
  }
}

/** The record batches of the IPC messages in [offset, offset + length) of `path`. */
export async function* readIpcRange(path: string, offset: number, length: number, schema: Schema, types: NativeColumnType[]): AsyncGenerator<RecordBatch, void, undefined> {
  const reader = addon.segmentReaderOpen(path, offset, length, types);
  try {
    for (;;) {
      const output = await addon.segmentReaderNext(reader);
      if (output.numRows === 0) {
        releaseNativeOutput(output);
        return;
      }
      yield fromNativeBatch(schema, output);
    }
  } finally {
    addon.segmentReaderClose(reader);
  }
}
