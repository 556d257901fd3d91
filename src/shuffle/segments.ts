/**
 * A shuffle segment (one reduce partition's bytes in a map output's data file) is one Arrow
 * IPC stream: the schema message, record-batch messages, the end-of-stream marker; an empty
 * partition is zero bytes. Buffers are LZ4_FRAME-compressed unless the shuffle's compression
 * is 'none' (serialization.ts: the same writer and codec as blocks).
 *
 * Map tasks write record-batch messages only (into spill files or one file per partition), and
 * a segment is assembled by concatenation: schema message + every piece of messages + EOS.
 * That is Spark's fast merge (byte concatenation of each partition's spilled pieces, valid
 * because the codec's streams concatenate), here valid because IPC messages are self-contained.
 */
import { type RecordBatch, type Schema } from 'apache-arrow';
import { type BlockCompression, SerializationStream } from '../storage/serialization.js';

/** The IPC stream's end-of-stream marker: continuation token, then a zero length. */
export const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

function serialize(batches: readonly RecordBatch[], schema: Schema, compression: BlockCompression): Uint8Array {
  const stream = new SerializationStream(compression, 1 << 20);
  if (batches.length === 0) stream.writeSchema(schema);
  for (const batch of batches) stream.write(batch);
  return stream.finish().toUint8Array();
}

/** Encodes the messages of one shuffle's segments, for one schema. */
export class SegmentEncoder {
  /** The schema message, the head of every non-empty segment. */
  readonly schemaMessage: Uint8Array;

  constructor(
    readonly schema: Schema,
    readonly compression: BlockCompression,
  ) {
    const empty = serialize([], schema, compression);
    this.schemaMessage = empty.subarray(0, empty.byteLength - END_OF_STREAM.byteLength);
  }

  /** The record-batch message(s) of a batch: its IPC stream without schema message and EOS. */
  batchMessage(batch: RecordBatch): Uint8Array {
    const bytes = serialize([batch], this.schema, this.compression);
    return bytes.subarray(this.schemaMessage.byteLength, bytes.byteLength - END_OF_STREAM.byteLength);
  }
}
