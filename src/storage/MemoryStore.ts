/**
 * Blocks held in memory (Spark's MemoryStore, spark-semantics §2.1).
 *
 * What is tracked: each entry's exact size and memory mode, in a Map whose insertion order is
 * the LRU order (a read moves the entry to the end; eviction scans from the start), and the
 * unroll memory each task holds per mode. The storage memory of an entry is acquired from the
 * MemoryManager before the entry exists and released when it is removed; unroll memory is
 * storage memory too, reserved while a block is materialised.
 *
 * Entries:
 *   values  Arrow record batches in JavaScript memory (ON_HEAP), sized as the sum of their
 *           buffers' byte lengths. Batches that are views into a larger buffer keep all of it
 *           alive; batches from the engine's operators own their buffers.
 *   bytes   Arrow IPC stream bytes (serialization.ts): ON_HEAP in Buffer chunks, or OFF_HEAP in
 *           native blocks, one per chunk (NativeBytes). While an OFF_HEAP block is unrolled,
 *           each full chunk moves into a native block as soon as the block's unroll memory
 *           covers it, so native memory never exceeds what storage granted and JavaScript holds
 *           only the chunks serialized since the last reservation.
 *
 * Unrolling an iterator of batches (putIterator), Spark's algorithm:
 *   1. Reserve `unrollMemoryThreshold` (1 MiB) of unroll memory; if refused, store nothing.
 *   2. Store batches one by one. After batch 0, 16, 32, … (`checkPeriod`), estimate the size S;
 *      if S ≥ threshold, request S × growthFactor − threshold more. The threshold becomes
 *      S × growthFactor whether or not the request succeeds; a refusal stops unrolling.
 *   3. A killed task (its AbortSignal) stops with a failure and keeps its unroll memory.
 *   4. When the input ends, take the exact size; request what the reservation lacks, once.
 *   5. Success: release the block's unroll memory and acquire exactly the entry's size as
 *      storage memory, under one lock of the memory manager; insert the entry.
 *   6. Failure: hand back what was unrolled and the rest of the input (PartiallyUnrolled /
 *      PartiallySerialized); the unroll memory stays reserved until that is consumed or closed.
 *
 * Eviction (evictBlocksToFreeSpace, called by the memory manager under its lock): candidates
 * are entries of the same memory mode and, when the incoming block is an RDD block, of another
 * RDD; each is write-locked without waiting, so blocks being read are skipped. All or nothing:
 * if the selected blocks free enough, each is dropped through the eviction handler (to disk
 * when its level allows) and its lock released, or its info removed when it is stored nowhere
 * else; otherwise every selected lock is released and nothing is evicted. A failing drop still
 * releases the locks of the blocks after it (SPARK-22083).
 */
import type { RecordBatch } from 'apache-arrow';
import { InternalError, InvalidArgumentError, StorageError } from '../errors.js';
import type { TaskAttemptId } from '../memory/ExecutionMemoryPool.js';
import type { MemoryManager, StorageRequest } from '../memory/MemoryManager.js';
import { MemoryMode } from '../memory/MemoryMode.js';
import type { StorageEvictor } from '../memory/StorageMemoryPool.js';
import type { BlockId } from './BlockId.js';
import { type BlockInfoManager, NON_TASK_WRITER } from './BlockInfoManager.js';
import { NativeBytes } from './NativeBytes.js';
import {
  batchBytes,
  type BlockCompression,
  type ByteSink,
  ChunkedBytes,
  deserialize,
  SerializationStream,
  writeBatchesTo,
} from './serialization.js';
import type { StorageLevel } from './StorageLevel.js';

/** What a drop from memory gets: the entry's batches, or its serialized bytes. */
export type EvictedData =
  | { readonly kind: 'values'; readonly batches: readonly RecordBatch[] }
  | { readonly kind: 'bytes'; readonly chunks: Iterable<Uint8Array> };

/** The BlockManager: moves an evicted block to disk when its level allows. */
export interface BlockEvictionHandler {
  /**
   * Drops the block from memory (writing it to disk first when its level uses disk) and
   * returns its new effective level. The caller holds the block's write lock as `task`.
   */
  dropFromMemory(blockId: BlockId, data: () => EvictedData, task: TaskAttemptId): Promise<StorageLevel>;
}

type MemoryEntry =
  | { readonly id: BlockId; readonly kind: 'values'; readonly batches: readonly RecordBatch[]; readonly size: number; readonly memoryMode: MemoryMode }
  | { readonly id: BlockId; readonly kind: 'bytes'; readonly bytes: ChunkedBytes | NativeBytes; readonly size: number; readonly memoryMode: MemoryMode };

export interface MemoryStoreOptions {
  /** spark.storage.unrollMemoryThreshold: unroll memory reserved before unrolling (1 MiB). */
  readonly unrollMemoryThreshold?: number;
  /** spark.storage.unrollMemoryCheckPeriod: batches between size checks (16). */
  readonly unrollMemoryCheckPeriod?: number;
  /** spark.storage.unrollMemoryGrowthFactor (1.5). */
  readonly unrollMemoryGrowthFactor?: number;
  /** Compression of serialized entries ('lz4'). */
  readonly compression?: BlockCompression;
}

export interface UnrollOptions {
  /** The task materialising the block; its unroll memory is tracked under this id. */
  readonly task?: TaskAttemptId;
  /** A killed task: unrolling stops at the next batch. */
  readonly signal?: AbortSignal | undefined;
  /** Serialized puts: the codec of this block's bytes instead of the store's (task results are
   *  not compressed: they are read once, soon, and compressing them costs more than it saves). */
  readonly compression?: BlockCompression | undefined;
  /** false: unroll only into the storage pool's free memory (StorageRequest). */
  readonly borrowExecution?: boolean | undefined;
}

/** A put's unroll memory so far, and a way to reserve more before a batch is stored. */
interface UnrollReservation {
  covered(): number;
  /** Reserves `amount` more; false when refused (unrolling then stops). */
  reserve(amount: number): Promise<boolean>;
}

export type PutResult<Partial> = { readonly stored: true; readonly size: number } | { readonly stored: false; readonly partial: Partial };

/** Bytes of serialized chunks (and of reads from off-heap entries). */
const CHUNK_BYTES = 2 ** 20;

export class MemoryStore implements StorageEvictor {
  private readonly entries = new Map<string, MemoryEntry>();
  private readonly unrollMemory = { [MemoryMode.ON_HEAP]: new Map<TaskAttemptId, number>(), [MemoryMode.OFF_HEAP]: new Map<TaskAttemptId, number>() };
  readonly unrollMemoryThreshold: number;
  private readonly checkPeriod: number;
  private readonly growthFactor: number;
  readonly compression: BlockCompression;
  /** Chunk size of serialized entries: min(initial threshold, 1 MiB), as Spark's unroll buffer. */
  readonly chunkSize: number;
  private evictionHandler: BlockEvictionHandler | undefined;

  constructor(
    private readonly memoryManager: MemoryManager,
    private readonly blockInfoManager: BlockInfoManager,
    options: MemoryStoreOptions = {},
  ) {
    this.unrollMemoryThreshold = options.unrollMemoryThreshold ?? CHUNK_BYTES;
    this.checkPeriod = options.unrollMemoryCheckPeriod ?? 16;
    this.growthFactor = options.unrollMemoryGrowthFactor ?? 1.5;
    if (!Number.isSafeInteger(this.unrollMemoryThreshold) || this.unrollMemoryThreshold < 1) {
      throw new InvalidArgumentError(`unrollMemoryThreshold must be a positive whole number of bytes, got ${this.unrollMemoryThreshold}`);
    }
    if (!Number.isSafeInteger(this.checkPeriod) || this.checkPeriod < 1) {
      throw new InvalidArgumentError(`unrollMemoryCheckPeriod must be a positive whole number, got ${this.checkPeriod}`);
    }
    if (!(this.growthFactor > 1)) throw new InvalidArgumentError(`unrollMemoryGrowthFactor must be above 1, got ${this.growthFactor}`);
    this.compression = options.compression ?? 'lz4';
    this.chunkSize = Math.min(this.unrollMemoryThreshold, CHUNK_BYTES);
    memoryManager.setEvictor(this);
  }

  /** The BlockManager registers itself; without a handler an evicted block is simply removed. */
  setEvictionHandler(handler: BlockEvictionHandler): void {
    this.evictionHandler = handler;
  }

  // ---------------------------------------------------------------- reads and bookkeeping

  contains(id: BlockId): boolean {
    return this.entries.has(id.name);
  }

  getSize(id: BlockId): number {
    return this.entries.get(id.name)?.size ?? 0;
  }

  /** The memory mode of a stored entry, undefined when absent. */
  memoryModeOf(id: BlockId): MemoryMode | undefined {
    return this.entries.get(id.name)?.memoryMode;
  }

  /** The block's batches (deserialized from bytes when stored serialized); marks it used. */
  getValues(id: BlockId): Iterable<RecordBatch> | undefined {
    const entry = this.touch(id);
    if (!entry) return undefined;
    if (entry.kind === 'values') return entry.batches;
    return deserialize(this.chunksOf(entry));
  }

  /** The block's serialized bytes (serialized entries only); marks it used. */
  getBytes(id: BlockId): Iterable<Uint8Array> | undefined {
    const entry = this.touch(id);
    if (!entry) return undefined;
    if (entry.kind === 'values') throw new StorageError(`getBytes called on deserialized block ${id.name}`);
    return this.chunksOf(entry);
  }

  /** Whether the entry holds batches (true) or bytes (false); undefined when absent. */
  isDeserialized(id: BlockId): boolean | undefined {
    const entry = this.entries.get(id.name);
    return entry === undefined ? undefined : entry.kind === 'values';
  }

  private touch(id: BlockId): MemoryEntry | undefined {
    const entry = this.entries.get(id.name);
    if (entry) {
      this.entries.delete(id.name);
      this.entries.set(id.name, entry);
    }
    return entry;
  }

  private chunksOf(entry: MemoryEntry & { kind: 'bytes' }): Iterable<Uint8Array> {
    return entry.bytes instanceof NativeBytes ? entry.bytes.readChunks(this.chunkSize) : entry.bytes.chunks;
  }

  /** Bytes held by entries (storage memory minus unroll memory). */
  get blocksMemoryUsed(): number {
    let used = 0;
    for (const entry of this.entries.values()) used += entry.size;
    return used;
  }

  /** Block names in LRU order, oldest first (tests, reports). */
  blockNames(): string[] {
    return [...this.entries.keys()];
  }

  // ---------------------------------------------------------------- puts

  /**
   * Stores bytes whose size is known in advance. If the storage memory is refused, returns
   * false without calling `bytes` (building or reading them may be expensive, and they would
   * be memory nobody accounted). The block must be absent.
   */
  async putBytes(id: BlockId, size: number, memoryMode: MemoryMode, bytes: () => ChunkedBytes | Promise<ChunkedBytes>, request: StorageRequest = {}): Promise<boolean> {
    if (this.contains(id)) throw new StorageError(`Block ${id.name} is already present in the MemoryStore`);
    if (!(await this.memoryManager.acquireStorageMemory(id.name, size, memoryMode, request))) return false;
    // Stored meanwhile by a concurrent put (readers caching the same disk block back): that
    // entry stands, and this one's memory goes back.
    const storedMeanwhile = (): boolean => {
      if (this.contains(id)) this.memoryManager.releaseStorageMemory(size, memoryMode);
      return this.contains(id);
    };
    if (storedMeanwhile()) return true;
    try {
      const built = await bytes();
      if (storedMeanwhile()) return true;
      if (built.size !== size) throw new InternalError('INVARIANT_VIOLATED', `Block ${id.name}: expected ${size} bytes, got ${built.size}`);
      this.insert({ id, kind: 'bytes', bytes: memoryMode === MemoryMode.OFF_HEAP ? NativeBytes.copyOf(built) : built, size, memoryMode });
      return true;
    } catch (error) {
      this.memoryManager.releaseStorageMemory(size, memoryMode);
      throw error;
    }
  }

  /** Unrolls batches into a values entry (ON_HEAP). On failure, returns the batches back. */
  async putIteratorAsValues(
    id: BlockId,
    values: Iterator<RecordBatch> | AsyncIterator<RecordBatch>,
    options: UnrollOptions = {},
  ): Promise<PutResult<PartiallyUnrolledIterator>> {
    const batches: RecordBatch[] = [];
    let size = 0;
    const task = options.task ?? NON_TASK_WRITER;
    const result = await this.putIterator(id, values, MemoryMode.ON_HEAP, options, {
      store: (batch) => {
        batches.push(batch);
        size += batchBytes(batch);
      },
      estimatedSize: () => size,
      build: () => ({ size, entry: () => ({ id, kind: 'values', batches, size, memoryMode: MemoryMode.ON_HEAP }) }),
    });
    if (result.stored) return result;
    return { stored: false, partial: new PartiallyUnrolledIterator(this, MemoryMode.ON_HEAP, task, result.unrollMemory, batches, values) };
  }

  /** Unrolls batches into serialized bytes in `memoryMode`. On failure, returns a partially serialized block. */
  async putIteratorAsBytes(
    id: BlockId,
    values: Iterator<RecordBatch> | AsyncIterator<RecordBatch>,
    memoryMode: MemoryMode,
    options: UnrollOptions = {},
  ): Promise<PutResult<PartiallySerializedBlock>> {
    const compression = options.compression ?? this.compression;
    // OFF_HEAP: full chunks move into native memory as far as the block's unroll memory covers
    // them, so JavaScript holds only the chunks serialized since the last reservation; without
    // compression, batches are written by native code straight into off-heap blocks
    // (serialization.ts, native messages), which move in the same way without a copy.
    const offHeap = memoryMode === MemoryMode.OFF_HEAP;
    const stream = new SerializationStream(compression, this.chunkSize, undefined, 'stream', offHeap && compression === 'none');
    const native = offHeap ? new NativeBytes() : undefined;
    const task = options.task ?? NON_TASK_WRITER;
    const result = await this.putIterator(id, values, memoryMode, options, {
      // A native message is written only where the block's unroll memory covers it and every
      // piece before it (all of them move into native memory, in order): native memory never
      // runs ahead of the reservation. Otherwise apache-arrow's writer writes the batch into
      // JavaScript chunks, as for any block.
      store: async (batch, unroll) => {
        const size = native ? stream.nativeMessageBytes(batch) : undefined;
        if (size !== undefined) {
          const shortfall = native!.size + stream.collectedBytes + size - unroll.covered();
          if (shortfall <= 0 || (await unroll.reserve(shortfall))) {
            await stream.appendNative(batch, size);
            return;
          }
        }
        stream.write(batch);
      },
      estimatedSize: () => stream.bytesWritten,
      covered: (unrollMemory) => {
        if (native) for (const piece of stream.takeChunks(unrollMemory - native.size)) native.append(piece);
      },
      build: () => {
        if (!native) {
          const bytes = stream.finish();
          return { size: bytes.size, entry: () => ({ id, kind: 'bytes', bytes, size: bytes.size, memoryMode }) };
        }
        stream.end();
        return {
          size: native.size + stream.collectedBytes,
          entry: () => {
            for (const piece of stream.takeChunks(Number.POSITIVE_INFINITY)) native.append(piece);
            return { id, kind: 'bytes', bytes: native, size: native.size, memoryMode };
          },
        };
      },
      discard: () => {
        native?.dispose();
        stream.dispose();
      },
    });
    if (result.stored) return result;
    return { stored: false, partial: new PartiallySerializedBlock(this, memoryMode, task, result.unrollMemory, stream, values, native) };
  }

  private async putIterator(
    id: BlockId,
    values: Iterator<RecordBatch> | AsyncIterator<RecordBatch>,
    memoryMode: MemoryMode,
    options: UnrollOptions,
    holder: {
      /** Stores a batch; may reserve more unroll memory first (a refusal ends the unroll after
       *  this batch, which is stored all the same). */
      store(batch: RecordBatch, unroll: UnrollReservation): void | Promise<void>;
      estimatedSize(): number;
      build(): { size: number; entry: () => MemoryEntry };
      /** Called after every reservation with the block's unroll memory so far. */
      covered?(unrollMemory: number): void;
      /** Frees what the holder built when the block will not be entered (not when refused: the partial block takes it). */
      discard?(): void;
    },
  ): Promise<{ stored: true; size: number } | { stored: false; unrollMemory: number }> {
    if (this.contains(id)) throw new StorageError(`Block ${id.name} is already present in the MemoryStore`);
    const task = options.task ?? NON_TASK_WRITER;
    const request = { borrowExecution: options.borrowExecution ?? true };
    let elementsUnrolled = 0;
    let memoryThreshold = this.unrollMemoryThreshold;
    let unrollMemoryUsedByThisBlock = 0;
    // Step 1.
    let keepUnrolling = await this.reserveUnrollMemoryForThisTask(id, memoryThreshold, memoryMode, task, request);
    if (keepUnrolling) unrollMemoryUsedByThisBlock += memoryThreshold;
    // Step 2. next() is only called while unrolling continues, so a refusal leaves the rest of
    // the input unread for the caller. If the input throws, the block's unroll memory goes back
    // at once (Spark leaves it to the end of the task).
    const unroll: UnrollReservation = {
      covered: () => unrollMemoryUsedByThisBlock,
      reserve: async (amount) => {
        keepUnrolling = await this.reserveUnrollMemoryForThisTask(id, amount, memoryMode, task, request);
        if (keepUnrolling) unrollMemoryUsedByThisBlock += amount;
        memoryThreshold += amount;
        return keepUnrolling;
      },
    };
    try {
      while (keepUnrolling && !options.signal?.aborted) {
        const next = await values.next();
        if (next.done) break;
        await holder.store(next.value, unroll);
        if (keepUnrolling && elementsUnrolled % this.checkPeriod === 0) {
          const currentSize = holder.estimatedSize();
          if (currentSize >= memoryThreshold) {
            const amountToRequest = Math.trunc(currentSize * this.growthFactor - memoryThreshold);
            keepUnrolling = await this.reserveUnrollMemoryForThisTask(id, amountToRequest, memoryMode, task, request);
            if (keepUnrolling) unrollMemoryUsedByThisBlock += amountToRequest;
            memoryThreshold += amountToRequest;
          }
        }
        holder.covered?.(unrollMemoryUsedByThisBlock);
        elementsUnrolled += 1;
      }
    } catch (error) {
      this.releaseUnrollMemoryForThisTask(memoryMode, unrollMemoryUsedByThisBlock, task);
      holder.discard?.();
      throw error;
    }
    // Step 3.
    if (!keepUnrolling || options.signal?.aborted) return { stored: false, unrollMemory: unrollMemoryUsedByThisBlock };
    // Step 4.
    const built = holder.build();
    if (built.size > unrollMemoryUsedByThisBlock) {
      const amountToRequest = built.size - unrollMemoryUsedByThisBlock;
      keepUnrolling = await this.reserveUnrollMemoryForThisTask(id, amountToRequest, memoryMode, task, request);
      if (!keepUnrolling) return { stored: false, unrollMemory: unrollMemoryUsedByThisBlock };
      unrollMemoryUsedByThisBlock += amountToRequest;
    }
    // Step 5.
    this.forgetUnrollMemory(memoryMode, unrollMemoryUsedByThisBlock, task);
    const transferred = await this.memoryManager.transferUnrollToStorage(id.name, unrollMemoryUsedByThisBlock, built.size, memoryMode);
    if (!transferred) throw new InternalError('INVARIANT_VIOLATED', 'transferring unroll memory to storage memory failed');
    if (this.contains(id)) {
      // Stored meanwhile by a concurrent put (readers caching the same disk block back): that
      // entry stands, and this one's memory goes back rather than being counted twice.
      this.memoryManager.releaseStorageMemory(built.size, memoryMode);
      holder.discard?.();
      return { stored: true, size: this.getSize(id) };
    }
    try {
      this.insert(built.entry());
    } catch (error) {
      this.memoryManager.releaseStorageMemory(built.size, memoryMode);
      holder.discard?.();
      throw error;
    }
    return { stored: true, size: built.size };
  }

  private insert(entry: MemoryEntry): void {
    this.entries.set(entry.id.name, entry);
  }

  // ---------------------------------------------------------------- unroll memory

  async reserveUnrollMemoryForThisTask(
    id: BlockId,
    memory: number,
    memoryMode: MemoryMode,
    task: TaskAttemptId = NON_TASK_WRITER,
    request: StorageRequest = {},
  ): Promise<boolean> {
    const success = await this.memoryManager.acquireUnrollMemory(id.name, memory, memoryMode, request);
    if (success) {
      const map = this.unrollMemory[memoryMode];
      map.set(task, (map.get(task) ?? 0) + memory);
    }
    return success;
  }

  /** Releases min(memory, held) of the task's unroll memory in a mode (all by default). */
  releaseUnrollMemoryForThisTask(memoryMode: MemoryMode, memory = Number.MAX_SAFE_INTEGER, task: TaskAttemptId = NON_TASK_WRITER): void {
    const released = this.forgetUnrollMemory(memoryMode, memory, task);
    if (released > 0) this.memoryManager.releaseUnrollMemory(released, memoryMode);
  }

  /** Takes bytes off the task's record only (the transfer to storage releases them itself). */
  private forgetUnrollMemory(memoryMode: MemoryMode, memory: number, task: TaskAttemptId): number {
    const map = this.unrollMemory[memoryMode];
    const held = map.get(task);
    if (held === undefined) return 0;
    const toRelease = Math.min(memory, held);
    if (held - toRelease === 0) map.delete(task);
    else map.set(task, held - toRelease);
    return toRelease;
  }

  currentUnrollMemoryForThisTask(task: TaskAttemptId = NON_TASK_WRITER): number {
    return (this.unrollMemory.ON_HEAP.get(task) ?? 0) + (this.unrollMemory.OFF_HEAP.get(task) ?? 0);
  }

  /** All tasks' unroll memory, in one mode or both. */
  currentUnrollMemory(memoryMode?: MemoryMode): number {
    let sum = 0;
    for (const mode of memoryMode ? [memoryMode] : [MemoryMode.ON_HEAP, MemoryMode.OFF_HEAP]) {
      for (const bytes of this.unrollMemory[mode].values()) sum += bytes;
    }
    return sum;
  }

  // ---------------------------------------------------------------- removal and eviction

  /** Deletes the entry, frees its bytes and releases its storage memory; false when absent. */
  remove(id: BlockId): boolean {
    const entry = this.entries.get(id.name);
    if (!entry) return false;
    this.entries.delete(id.name);
    if (entry.kind === 'bytes' && entry.bytes instanceof NativeBytes) entry.bytes.dispose();
    this.memoryManager.releaseStorageMemory(entry.size, entry.memoryMode);
    return true;
  }

  /** Drops every entry and all unroll memory (shutdown). */
  clear(): void {
    for (const entry of this.entries.values()) {
      if (entry.kind === 'bytes' && entry.bytes instanceof NativeBytes) entry.bytes.dispose();
    }
    this.entries.clear();
    this.unrollMemory.ON_HEAP.clear();
    this.unrollMemory.OFF_HEAP.clear();
    this.memoryManager.releaseAllStorageMemory();
  }

  async evictBlocksToFreeSpace(blockName: string | undefined, space: number, memoryMode: MemoryMode): Promise<number> {
    if (!(space > 0)) throw new InternalError('INVARIANT_VIOLATED', `eviction of ${space} bytes requested`);
    const incomingRdd = rddOf(blockName);
    const selected: MemoryEntry[] = [];
    let freedMemory = 0;
    for (const entry of this.entries.values()) {
      if (freedMemory >= space) break;
      const eligible = entry.memoryMode === memoryMode && (incomingRdd === undefined || rddOf(entry.id.name) !== incomingRdd);
      // A block being read (or written) is skipped rather than waited for.
      if (eligible && this.blockInfoManager.tryLockForWriting(entry.id, NON_TASK_WRITER)) {
        selected.push(entry);
        freedMemory += entry.size;
      }
    }
    if (freedMemory < space) {
      // "Will not store <block>": nothing is evicted.
      for (const entry of selected) this.blockInfoManager.unlock(entry.id, NON_TASK_WRITER);
      return 0;
    }
    let dropped = 0;
    try {
      for (const entry of selected) {
        await this.dropBlock(entry);
        dropped += 1;
      }
    } finally {
      // SPARK-22083: the blocks not dropped (the failing one included) must not stay locked.
      for (const entry of selected.slice(dropped)) {
        if (this.blockInfoManager.get(entry.id)?.writerTask === NON_TASK_WRITER) this.blockInfoManager.unlock(entry.id, NON_TASK_WRITER);
      }
    }
    return freedMemory;
  }

  private async dropBlock(entry: MemoryEntry): Promise<void> {
    const data = (): EvictedData =>
      entry.kind === 'values' ? { kind: 'values', batches: entry.batches } : { kind: 'bytes', chunks: this.chunksOf(entry) };
    let newLevel: StorageLevel | undefined;
    if (this.evictionHandler) {
      newLevel = await this.evictionHandler.dropFromMemory(entry.id, data, NON_TASK_WRITER);
    } else {
      this.remove(entry.id);
    }
    if (newLevel?.isValid) this.blockInfoManager.unlock(entry.id, NON_TASK_WRITER);
    else this.blockInfoManager.removeBlock(entry.id, NON_TASK_WRITER);
  }
}

function rddOf(name: string | undefined): number | undefined {
  const match = name === undefined ? null : /^rdd_([0-9]+)_[0-9]+$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * The result of a failed unroll of values: the batches unrolled so far, then the rest of the
 * input. Holds the block's unroll memory until the unrolled part has been read, or close().
 */
export class PartiallyUnrolledIterator implements AsyncIterableIterator<RecordBatch> {
  private unrolled: RecordBatch[] | undefined;
  private index = 0;

  constructor(
    private readonly memoryStore: MemoryStore,
    private readonly memoryMode: MemoryMode,
    private readonly task: TaskAttemptId,
    private unrollMemory: number,
    unrolled: RecordBatch[],
    private readonly rest: Iterator<RecordBatch> | AsyncIterator<RecordBatch>,
  ) {
    this.unrolled = unrolled;
  }

  async next(): Promise<IteratorResult<RecordBatch>> {
    if (this.unrolled) {
      if (this.index < this.unrolled.length) return { done: false, value: this.unrolled[this.index++]! };
      this.releaseUnrollMemory();
    }
    return this.rest.next();
  }

  async return(): Promise<IteratorResult<RecordBatch>> {
    this.close();
    await this.rest.return?.();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Releases the unroll memory without reading on. */
  close(): void {
    this.releaseUnrollMemory();
  }

  private releaseUnrollMemory(): void {
    this.unrolled = undefined;
    if (this.unrollMemory > 0) this.memoryStore.releaseUnrollMemoryForThisTask(this.memoryMode, this.unrollMemory, this.task);
    this.unrollMemory = 0;
  }
}

/**
 * The result of a failed unroll of bytes: what was serialized so far and the rest of the input.
 * finishWritingToStream sends all of it to a sink (a disk file), valuesIterator reads it back
 * as batches, discard drops it; each releases the unroll memory.
 */
export class PartiallySerializedBlock {
  private consumed = false;

  constructor(
    private readonly memoryStore: MemoryStore,
    private readonly memoryMode: MemoryMode,
    private readonly task: TaskAttemptId,
    private unrollMemory: number,
    private readonly stream: SerializationStream,
    private readonly rest: Iterator<RecordBatch> | AsyncIterator<RecordBatch>,
    /** An OFF_HEAP block's first chunks, already moved into native memory. */
    private readonly native?: NativeBytes,
  ) {}

  /** The chunks in native memory as they were appended (each one chunk of the stream). */
  private nativeChunks(): Iterable<Uint8Array> {
    return this.native ? this.native.readChunks(Number.POSITIVE_INFINITY) : [];
  }

  private claim(what: string): void {
    if (this.consumed) throw new StorageError(`a partially serialized block can be consumed once; ${what} was called after it was`);
    this.consumed = true;
  }

  /** Writes the bytes so far and serializes the rest into `sink`, then releases the memory. */
  async finishWritingToStream(sink: ByteSink): Promise<void> {
    this.claim('finishWritingToStream');
    try {
      for (const chunk of this.nativeChunks()) sink.write(chunk);
      this.native?.dispose();
      this.stream.redirect((chunk) => sink.write(chunk));
      // A synchronous iterator serves too: for await awaits whatever next() returns.
      await writeBatchesTo(this.stream, { [Symbol.asyncIterator]: () => this.rest as AsyncIterator<RecordBatch> }, sink);
    } finally {
      this.release();
    }
  }

  /** The batches serialized so far, then the rest of the input; releases the memory at the end. */
  valuesIterator(): AsyncIterableIterator<RecordBatch> {
    this.claim('valuesIterator');
    const unrolled = deserialize([...this.nativeChunks(), ...this.stream.snapshot()]);
    this.native?.dispose();
    const rest = this.rest;
    const release = (): void => this.release();
    let inUnrolled = true;
    const iterator: AsyncIterableIterator<RecordBatch> = {
      async next() {
        if (inUnrolled) {
          const next = unrolled.next();
          if (!next.done) return next;
          inUnrolled = false;
          release();
        }
        return rest.next();
      },
      async return() {
        release();
        await rest.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Drops the serialized bytes and releases the unroll memory. */
  discard(): void {
    this.claim('discard');
    this.release();
  }

  private release(): void {
    this.native?.dispose();
    this.stream.dispose();
    if (this.unrollMemory > 0) this.memoryStore.releaseUnrollMemoryForThisTask(this.memoryMode, this.unrollMemory, this.task);
    this.unrollMemory = 0;
  }
}
