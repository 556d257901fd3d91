/**
 * A shuffle segment (one reduce partition's bytes in a map output's data file) is one Arrow
 * IPC stream: the schema message, record-batch messages, the end-of-stream marker; an empty
 * partition is zero bytes. Buffers are LZ4_FRAME-compressed unless the shuffle's compression
 * is 'none'; any Arrow reader reads a segment.
 *
 * Map tasks write record-batch messages only (into spill files or one file per partition), in
 * native code on a worker thread (native/core/arrow_ipc.h), and a segment is assembled by
 * concatenation: schema message + every piece of messages + EOS. That is Spark's fast merge
 * (byte concatenation of each partition's spilled pieces, valid because the codec's streams
 * concatenate), here valid because IPC messages are self-contained. The schema message is the
 * one apache-arrow writes, once per map task.
 */
import type { Schema } from 'apache-arrow';
import { SerializationStream } from '../storage/serialization.js';

/** The IPC stream's end-of-stream marker: continuation token, then a zero length. */
export const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

/** The schema message that heads every non-empty segment of a shuffle of `schema` (the
 *  message does not depend on compression). */
export function segmentSchemaMessage(schema: Schema): Uint8Array {
  const stream = new SerializationStream('none', 1 << 16);
  stream.writeSchema(schema);
  return Buffer.concat(stream.snapshot());
}
