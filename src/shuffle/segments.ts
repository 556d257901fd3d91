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
import { AsyncByteQueue, type Schema } from 'apache-arrow';
import { createStreamWriter } from '../storage/serialization.js';

/** The IPC stream's end-of-stream marker: continuation token, then a zero length. */
export const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

/** The writer's sink: keeps what it is given, as it is. apache-arrow's writer adopts any
 *  AsyncByteQueue as its sink, which is why this extends one; nothing is ever queued in it. */
class CapturingSink extends AsyncByteQueue {
  pieces: Uint8Array[] = [];

  override write(value: Uint8Array | ArrayBufferView | ArrayBuffer): void {
    this.pieces.push(value instanceof Uint8Array ? value : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value));
  }
}

/** The schema message that heads every non-empty segment of a shuffle of `schema`. */
export function segmentSchemaMessage(schema: Schema): Uint8Array {
  const sink = new CapturingSink();
  // reset() writes the schema message at once; the message does not depend on compression.
  createStreamWriter('none').reset(sink, schema);
  return Buffer.concat(sink.pieces);
}
