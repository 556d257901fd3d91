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
 *
 * Native messages (a stream made with `nativeMessages`, for the OFF_HEAP level without
 * compression: task results): each record batch whose schema native code encodes is written
 * by native code, on a worker, straight into an off-heap block of its exact size (a
 * NativeMessage piece), instead of by apache-arrow's writer into JavaScript chunks that are
 * then copied into native blocks. The bytes are the same format (arrow_ipc.h); the schema
 * message and the end-of-stream marker still come from apache-arrow's writer. A task result of
 * 20–40 MB cost the event loop 30–60 ms of writing, chunk copies and blockWrite that way.
 */
import { AsyncByteQueue, CompressionType, compressionRegistry, RecordBatch, RecordBatchFileWriter, RecordBatchReader, RecordBatchStreamWriter, type Schema } from 'apache-arrow';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { InternalError, InvalidArgumentError, SchemaMismatchError } from '../errors.js';
import { type MemoryBlock, nativeAllocator } from '../memory/MemoryBlock.js';
import { addon, type NativeColumnType } from '../native/addon.js';
import { toNativeBatch } from '../sort/arrowBatches.js';
import { sameFields } from '../util/schema.js';
import { nativeIpcTypes } from './nativeIpc.js';

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

/** One record-batch message in an off-heap block of exactly its size (module comment). */
export interface NativeMessage {
  readonly block: MemoryBlock;
  readonly size: number;
}

/** A piece of a serialized stream, in order: a chunk in JavaScript or a native message. */
export type SerializedPiece = Uint8Array | NativeMessage;

export function isNativeMessage(piece: SerializedPiece): piece is NativeMessage {
  return !(piece instanceof Uint8Array);
}

/** A native message's bytes, copied out (the block stays the caller's to free). */
function copyOfNativeMessage(message: NativeMessage): Uint8Array {
  return addon.blockRead(message.block.handle, 0, message.size);
}

/**
 * One block being serialized: write batches (or, where the stream allows, native messages:
 * nativeMessageBytes then appendNative), read `bytesWritten` at any time, then finish()
 * (which writes the end-of-stream marker and flushes the last chunk). Chunks go to `onChunk` as they fill, or are collected
 * when no consumer is given; native messages are always collected (takeChunks hands them on).
 */
export class SerializationStream {
  private readonly sink: ChunkingSink;
  private writer: RecordBatchStreamWriter | RecordBatchFileWriter | undefined;
  private schema: Schema | undefined;
  /** The schema's native column types (undefined when not all are: apache-arrow's writer
   *  writes every batch then). */
  private nativeTypes: NativeColumnType[] | undefined;
  private readonly collected: SerializedPiece[] = [];
  private nativeBytesWritten = 0;
  private finished = false;

  constructor(
    private readonly compression: BlockCompression,
    chunkSize: number,
    onChunk?: (chunk: Uint8Array) => void,
    /** Blocks and segments are streams; 'file' is for output files (writeArrow). */
    private readonly format: IpcFormat = 'stream',
    /** Native messages (collected streams without compression only). */
    private nativeMessages = false,
  ) {
    if (compression === 'lz4') registerLz4();
    if (nativeMessages && (compression !== 'none' || format !== 'stream' || onChunk)) {
      throw new InternalError('INVARIANT_VIOLATED', 'native messages are for collected, uncompressed streams');
    }
    this.sink = new ChunkingSink(chunkSize, onChunk ?? ((chunk) => this.collected.push(chunk)));
  }

  get bytesWritten(): number {
    return this.sink.bytesWritten + this.nativeBytesWritten;
  }

  /**
   * The bytes of `batch`'s native message, or undefined when it is written by apache-arrow's
   * writer (a stream without native messages, a schema of other types, a sliced batch). Starts
   * the stream with the batch's schema when it has not begun.
   */
  nativeMessageBytes(batch: RecordBatch): number | undefined {
    if (!this.nativeMessages) return undefined;
    if (!this.writer) {
      this.writeSchema(batch.schema);
      this.nativeTypes = nativeIpcTypes(batch.schema);
    }
    if (!this.nativeTypes || !unsliced(batch)) return undefined;
    if (!sameFields(this.schema!, batch.schema)) throw new SchemaMismatchError('every batch of a block must have the schema of its first batch');
    return addon.ipcMessageBytes(toNativeBatch(batch, this.nativeTypes), this.nativeTypes);
  }

  /**
   * Writes `batch` as a native message of `size` bytes (nativeMessageBytes) on a worker, into an
   * off-heap block of that size. The caller must not release the batch before this resolves.
   */
  async appendNative(batch: RecordBatch, size: number): Promise<void> {
    const types = this.nativeTypes;
    if (!types) throw new InternalError('INVARIANT_VIOLATED', 'appendNative before nativeMessageBytes said the batch is native');
    const block = nativeAllocator.allocate(size);
    if (block === null) throw new InternalError('NATIVE_OUT_OF_MEMORY', `the system has no memory for an off-heap block of ${size} bytes`);
    try {
      const written = await addon.ipcWriteMessage(block.handle, toNativeBatch(batch, types), types);
      if (written !== size) throw new InternalError('INVARIANT_VIOLATED', `a native message took ${written} bytes, not the ${size} it was sized at`);
    } catch (error) {
      nativeAllocator.free(block);
      throw error;
    }
    // What apache-arrow's writer wrote before (the schema message) goes first.
    this.sink.flush();
    this.collected.push({ block, size });
    this.nativeBytesWritten += size;
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
   * Sends the pieces collected so far to `onChunk` (native messages copied out and freed) and
   * everything written from now on too (a partly serialized block that continues on disk,
   * with apache-arrow's writer from here on).
   */
  redirect(onChunk: (chunk: Uint8Array) => void): void {
    this.nativeMessages = false;
    for (const piece of this.collected.splice(0)) {
      if (!isNativeMessage(piece)) {
        onChunk(piece);
        continue;
      }
      try {
        onChunk(copyOfNativeMessage(piece));
      } finally {
        nativeAllocator.free(piece.block);
      }
    }
    this.sink.onChunk = onChunk;
  }

  /** The bytes collected so far, with the partly filled chunk (for reading a partial block);
   *  native messages are copied out and stay collected. */
  snapshot(): Uint8Array[] {
    this.sink.flush();
    return this.collected.map((piece) => (isNativeMessage(piece) ? copyOfNativeMessage(piece) : piece));
  }

  /** Bytes of the pieces collected and not taken. */
  get collectedBytes(): number {
    return this.collected.reduce((sum, piece) => sum + (isNativeMessage(piece) ? piece.size : piece.byteLength), 0);
  }

  /**
   * Removes collected pieces from the front while their total stays within `maxBytes` (an
   * off-heap block moves them into native memory as its unroll memory grows).
   */
  takeChunks(maxBytes: number): SerializedPiece[] {
    let count = 0;
    let total = 0;
    for (const piece of this.collected) {
      const bytes = isNativeMessage(piece) ? piece.size : piece.byteLength;
      if (total + bytes > maxBytes) break;
      total += bytes;
      count += 1;
    }
    return this.collected.splice(0, count);
  }

  /** Ends the stream: the end-of-stream marker is written and the last chunk flushed. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    // close() writes the end-of-stream marker through the sink before closing it.
    if (this.writer) this.writer.close();
    this.sink.flush();
  }

  /**
   * Ends the stream; returns the collected bytes (empty when chunks went to a consumer). They
   * stay collected too: a block refused at its final reservation, after the stream ended, is
   * handed on whole (to disk, or read back). A stream holding native messages hands them on
   * with takeChunks instead.
   */
  finish(): ChunkedBytes {
    this.end();
    if (this.collected.some(isNativeMessage)) throw new InternalError('INVARIANT_VIOLATED', 'a stream of native messages is taken with takeChunks, not finish');
    return new ChunkedBytes([...(this.collected as Uint8Array[])]);
  }

  /** Ends the stream and frees what it collected (a block that will not be stored). */
  dispose(): void {
    this.end();
    for (const piece of this.collected.splice(0)) if (isNativeMessage(piece)) nativeAllocator.free(piece.block);
  }
}

/** Whether a batch's columns start at their buffers' first row (native messages need it). */
function unsliced(batch: RecordBatch): boolean {
  return batch.data.children.every((child) => child.offset === 0);
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
