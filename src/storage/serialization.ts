/**
 * How blocks become bytes and back: the Arrow IPC stream format, with LZ4_FRAME body
 * compression by default (lz4-napi registered in apache-arrow's compression registry), so a
 * block file or a shuffle segment reads back in any Arrow implementation.
 *
 * A serialized block is a schema message, one record-batch message per batch, and the
 * end-of-stream marker; a block of no batches is zero bytes. Every batch of a block has the
 * block's schema (a batch of another schema is refused, as a stream cannot change schema).
 *
 * Bytes are kept in chunks (ChunkedBytes, Spark's ChunkedByteBuffer): the IPC writer's output
 * is copied into fixed-size chunks as it is produced, so a block is never one huge allocation
 * and the serialized size is known after every batch (the memory store's unroll reads it).
 * Copying also means the bytes never alias the batches' own buffers: what is accounted is
 * what is held.
 */
import { AsyncByteQueue, CompressionType, compressionRegistry, RecordBatch, RecordBatchFileWriter, RecordBatchReader, RecordBatchStreamWriter, type Schema } from 'apache-arrow';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { InvalidArgumentError, SchemaMismatchError } from '../errors.js';
import { sameFields } from '../util/schema.js';

export type BlockCompression = 'lz4' | 'none';

let lz4Registered = false;

/** Registers lz4-napi's frame codec with apache-arrow, once per process. */
export function registerLz4(): void {
  if (lz4Registered) return;
  compressionRegistry.set(CompressionType.LZ4_FRAME, {
    encode: (data) => compressFrameSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
    decode: (data) => decompressFrameSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
  });
  lz4Registered = true;
}

/** The bytes a batch holds: every buffer of every column, dictionaries included. */
export function batchBytes(batch: RecordBatch): number {
  let bytes = batch.data.byteLength;
  for (const child of batch.data.children) {
    if (child.dictionary) for (const data of child.dictionary.data) bytes += data.byteLength;
  }
  return bytes;
}

/**
 * apache-arrow 21.2's writer puts the *compressed* length in each compressed buffer's 8-byte
 * prefix; the Arrow format (Message.fbs, BodyCompression) requires the uncompressed length,
 * and Arrow C++, Rust and Go size their output from it. Arrow's own JS reader ignores the
 * value, so only a second reader notices (test/storage/serialization.test.ts). This writer
 * rewrites each prefix to the buffer's uncompressed length; a prefix of −1 (stored
 * uncompressed because compression did not help) stays as it is.
 */
type CompressedBuffers = ReturnType<RecordBatchStreamWriter['_compressBodyBuffers']>;

function conformPrefixes(buffers: ArrayBufferView[], result: CompressedBuffers): CompressedBuffers {
  buffers.forEach((buffer, i) => {
    const prefix = result.buffers[2 * i]!;
    if (prefix.byteLength !== 8) return; // an empty buffer has no prefix
    const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
    if (view.getBigInt64(0, true) !== -1n) view.setBigInt64(0, BigInt(buffer.byteLength), true);
  });
  return result;
}

class ConformingStreamWriter extends RecordBatchStreamWriter {
  protected override _compressBodyBuffers(buffers: ArrayBufferView[]): CompressedBuffers {
    return conformPrefixes(buffers, super._compressBodyBuffers(buffers));
  }
}

/** Output files (writeArrow) need the same fix: apache-arrow's file writer has the same bug. */
class ConformingFileWriter extends RecordBatchFileWriter {
  protected override _compressBodyBuffers(buffers: ArrayBufferView[]): CompressedBuffers {
    return conformPrefixes(buffers, super._compressBodyBuffers(buffers));
  }
}

/** The two Arrow IPC formats: a stream, or a file (magic, the stream's messages, a footer). */
export type IpcFormat = 'stream' | 'file';

/** An IPC writer with `compression` whose compressed buffers carry the format's
 *  uncompressed-length prefix (the one writer every serialization here uses). */
export function createIpcWriter(compression: BlockCompression, format: IpcFormat): RecordBatchStreamWriter | RecordBatchFileWriter {
  if (compression === 'lz4') registerLz4();
  const options = { compressionType: compression === 'lz4' ? CompressionType.LZ4_FRAME : null };
  return format === 'file' ? new ConformingFileWriter(options) : new ConformingStreamWriter(options);
}

/** createIpcWriter for the stream format. */
export function createStreamWriter(compression: BlockCompression): RecordBatchStreamWriter {
  return createIpcWriter(compression, 'stream') as RecordBatchStreamWriter;
}

/** Where serialized chunks go when they do not stay in memory (a block file being written). */
export interface ByteSink {
  /** Takes a chunk (queued; the sink may write it later). */
  write(chunk: Uint8Array): void;
  /** Resolves when what was written so far is out of memory; rejects with the sink's error. */
  drain(): Promise<void>;
}

/** Serialized bytes held in JavaScript memory, in chunks (the last one may be shorter). */
export class ChunkedBytes {
  readonly size: number;

  constructor(readonly chunks: readonly Uint8Array[]) {
    this.size = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  }

  static readonly EMPTY = new ChunkedBytes([]);

  /** One contiguous copy (small blocks, tests). */
  toUint8Array(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    return Buffer.concat(this.chunks, this.size);
  }
}

/**
 * The IPC writer's sink: copies what it is given into chunks of `chunkSize` and hands each
 * full chunk to `onChunk`. apache-arrow's writer adopts any AsyncByteQueue as its sink
 * (RecordBatchWriter.reset), which is why this extends one; nothing is ever queued in it.
 */
class ChunkingSink extends AsyncByteQueue {
  private current: Buffer | undefined;
  private used = 0;
  bytesWritten = 0;

  constructor(
    private readonly chunkSize: number,
    public onChunk: (chunk: Uint8Array) => void,
  ) {
    super();
  }

  override write(value: Uint8Array | ArrayBufferView | ArrayBuffer): void {
    let bytes = value instanceof Uint8Array ? value : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
    this.bytesWritten += bytes.byteLength;
    while (bytes.byteLength > 0) {
      if (!this.current) {
        this.current = Buffer.allocUnsafeSlow(this.chunkSize);
        this.used = 0;
      }
      const n = Math.min(bytes.byteLength, this.chunkSize - this.used);
      this.current.set(bytes.subarray(0, n), this.used);
      this.used += n;
      bytes = bytes.subarray(n);
      if (this.used === this.chunkSize) this.flush();
    }
  }

  /** Hands over the partly filled chunk, trimmed to what it holds. */
  flush(): void {
    if (!this.current || this.used === 0) return;
    // The trimmed copy is its own allocation (Buffer.from would place a small one in Node's
    // shared pool, which would keep 8 KiB alive for it).
    let chunk = this.current;
    if (this.used < this.chunkSize) {
      chunk = Buffer.allocUnsafeSlow(this.used);
      this.current.copy(chunk, 0, 0, this.used);
    }
    this.current = undefined;
    this.used = 0;
    this.onChunk(chunk);
  }
}

/**
 * One block being serialized: write batches, read `bytesWritten` at any time, then finish()
 * (which writes the end-of-stream marker and flushes the last chunk). Chunks go to `onChunk`
 * as they fill, or are collected when no consumer is given.
 */
export class SerializationStream {
  private readonly sink: ChunkingSink;
  private writer: RecordBatchStreamWriter | RecordBatchFileWriter | undefined;
  private schema: Schema | undefined;
  private readonly collected: Uint8Array[] = [];
  private finished = false;

  constructor(
    private readonly compression: BlockCompression,
    chunkSize: number,
    onChunk?: (chunk: Uint8Array) => void,
    /** Blocks and segments are streams; 'file' is for output files (writeArrow). */
    private readonly format: IpcFormat = 'stream',
  ) {
    if (compression === 'lz4') registerLz4();
    this.sink = new ChunkingSink(chunkSize, onChunk ?? ((chunk) => this.collected.push(chunk)));
  }

  get bytesWritten(): number {
    return this.sink.bytesWritten;
  }

  /** Starts the stream with `schema` without a batch (a stream of no batches still has one). */
  writeSchema(schema: Schema): void {
    if (this.writer) throw new InvalidArgumentError('the stream has begun');
    this.writer = createIpcWriter(this.compression, this.format);
    this.writer.reset(this.sink, schema);
    this.schema = schema;
  }

  write(batch: RecordBatch): void {
    if (!(batch instanceof RecordBatch)) throw new InvalidArgumentError('a block holds Arrow RecordBatches');
    if (!this.writer) {
      this.writeSchema(batch.schema);
    } else if (!sameFields(this.schema!, batch.schema)) {
      throw new SchemaMismatchError('every batch of a block must have the schema of its first batch');
    }
    this.writer!.write(batch);
  }

  /**
   * Sends the chunks collected so far to `onChunk` and everything written from now on too (a
   * partly serialized block that continues on disk).
   */
  redirect(onChunk: (chunk: Uint8Array) => void): void {
    for (const chunk of this.collected.splice(0)) onChunk(chunk);
    this.sink.onChunk = onChunk;
  }

  /** The chunks collected so far, with the partly filled one (for reading a partial block). */
  snapshot(): Uint8Array[] {
    this.sink.flush();
    return [...this.collected];
  }

  /**
   * Removes collected chunks from the front while their total stays within `maxBytes` (an
   * off-heap block moves them into native memory as its unroll memory grows).
   */
  takeChunks(maxBytes: number): Uint8Array[] {
    let count = 0;
    let total = 0;
    for (const chunk of this.collected) {
      if (total + chunk.byteLength > maxBytes) break;
      total += chunk.byteLength;
      count += 1;
    }
    return this.collected.splice(0, count);
  }

  /**
   * Ends the stream; returns the collected bytes (empty when chunks went to a consumer). They
   * stay collected too: a block refused at its final reservation, after the stream ended, is
   * handed on whole (to disk, or read back).
   */
  finish(): ChunkedBytes {
    if (!this.finished) {
      this.finished = true;
      // close() writes the end-of-stream marker through the sink before closing it.
      if (this.writer) this.writer.close();
      this.sink.flush();
    }
    return new ChunkedBytes([...this.collected]);
  }
}

/**
 * The batches of serialized chunks, read lazily: chunks are pulled as the reader needs them.
 * apache-arrow's reader stops at the end-of-stream marker without asking for more, so the
 * chunk source is ended here (its `finally` runs: a block file is closed), also when the
 * caller stops early.
 */
export function* deserialize(chunks: Iterable<Uint8Array>): Generator<RecordBatch, void, undefined> {
  registerLz4();
  const iterator = chunks[Symbol.iterator]();
  try {
    let first = iterator.next();
    while (!first.done && first.value.byteLength === 0) first = iterator.next();
    if (first.done) return;
    const firstChunk = first.value;
    function* all(): Generator<Uint8Array> {
      yield firstChunk;
      for (let next = iterator.next(); !next.done; next = iterator.next()) yield next.value;
    }
    yield* RecordBatchReader.from(all());
  } finally {
    iterator.return?.();
  }
}

/** As deserialize, from chunks that arrive asynchronously (a file read in chunks). */
export async function* deserializeAsync(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<RecordBatch, void, undefined> {
  registerLz4();
  const iterator = chunks[Symbol.asyncIterator]();
  try {
    const first = await iterator.next();
    if (first.done) return;
    async function* all(): AsyncGenerator<Uint8Array> {
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    }
    yield* await RecordBatchReader.from(all());
  } finally {
    await iterator.return?.();
  }
}

/**
 * Writes batches through `stream`, whose chunks go to `sink`, waiting for the sink after every
 * batch so that at most about one batch of bytes is queued; then ends the stream.
 */
export async function writeBatchesTo(
  stream: SerializationStream,
  batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>,
  sink: ByteSink,
): Promise<void> {
  for await (const batch of batches) {
    stream.write(batch);
    await sink.drain();
  }
  stream.finish();
  await sink.drain();
}

/** Serializes batches into collected chunks (puts of bytes, drops to disk of values, tests). */
export function serializeBatches(batches: Iterable<RecordBatch>, compression: BlockCompression, chunkSize: number): ChunkedBytes {
  const stream = new SerializationStream(compression, chunkSize);
  for (const batch of batches) stream.write(batch);
  return stream.finish();
}
