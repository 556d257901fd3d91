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
 *
 * One IPC writer per encoder lives as long as the map task: it writes the schema message once
 * (reset), and every later write() emits only a batch's messages, which the capturing sink hands
 * back as the writer's own pieces (metadata, body buffers), without copying them.
 */
import { AsyncByteQueue, type RecordBatch, type RecordBatchStreamWriter, type Schema } from 'apache-arrow';
import { type BlockCompression, createStreamWriter } from '../storage/serialization.js';

/** The IPC stream's end-of-stream marker: continuation token, then a zero length. */
export const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

/** The writer's sink: keeps what it is given, as it is. apache-arrow's writer adopts any
 *  AsyncByteQueue as its sink, which is why this extends one; nothing is ever queued in it. */
class CapturingSink extends AsyncByteQueue {
  pieces: Uint8Array[] = [];

  override write(value: Uint8Array | ArrayBufferView | ArrayBuffer): void {
    this.pieces.push(value instanceof Uint8Array ? value : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value));
  }

  take(): Uint8Array[] {
    const pieces = this.pieces;
    this.pieces = [];
    return pieces;
  }
}

/** Encodes the messages of one shuffle's segments, for one schema. */
export class SegmentEncoder {
  /** The schema message, the head of every non-empty segment. */
  readonly schemaMessage: Uint8Array;
  private readonly sink = new CapturingSink();
  private readonly writer: RecordBatchStreamWriter;

  constructor(
    readonly schema: Schema,
    readonly compression: BlockCompression,
  ) {
    this.writer = createStreamWriter(compression);
    // reset() writes the schema message at once.
    this.writer.reset(this.sink, schema);
    this.schemaMessage = Buffer.concat(this.sink.take());
  }

  /** Whether batchMessage's pieces are views of the batch's buffers (without compression:
   *  the writer hands body buffers on as they are; LZ4 writes new ones, also when it falls
   *  back to storing a buffer uncompressed). */
  get messagesViewBatches(): boolean {
    return this.compression === 'none';
  }

  /** The record-batch message of a batch, as the writer's pieces in order. */
  batchMessage(batch: RecordBatch): Uint8Array[] {
    this.writer.write(batch);
    return this.sink.take();
  }
}
