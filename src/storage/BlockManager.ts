/**
 * One executor's blocks: cached partitions, task results, and later shuffle and broadcast
 * blocks (Spark's BlockManager, spark-semantics §2.3). It ties the BlockInfoManager (locks),
 * the MemoryStore and the DiskStore together, and is the MemoryStore's eviction handler, so
 * that execution memory can take back cached blocks through the unified memory manager:
 * blocks whose level allows it go to disk, the others disappear.
 *
 * Reads (get): local memory, then local disk, then a remote source (an interface until a
 * session has several executors). A read holds a read lock on the block until its batches
 * have been read (or the result is closed); a disk read of a level that uses memory caches the
 * block back into memory when there is room.
 *
 * Writes (put): first writer wins (a block already present is not re-added); memory is tried
 * first even when the level also allows disk; what does not fit goes to disk when the level
 * allows, or comes back to the caller as batches. A put that throws removes every trace of the
 * block: no lock, no memory, no file.
 *
 * Every call names its task (Spark takes it from the thread's TaskContext); code outside a task
 * uses NON_TASK_WRITER. The executor registers a task before it runs and calls
 * releaseAllLocksForTask after, whatever happened.
 */
import type { RecordBatch } from 'apache-arrow';
import type { TungstenConfig } from '../config/options.js';
import { BlockCorruptError, BlockNotFoundError, InternalError, InvalidArgumentError, TungstenError } from '../errors.js';
import type { TaskAttemptId } from '../memory/ExecutionMemoryPool.js';
import type { MemoryManager } from '../memory/MemoryManager.js';
import { BlockId } from './BlockId.js';
import { BlockInfo, BlockInfoManager, NON_TASK_WRITER } from './BlockInfoManager.js';
import { DiskBlockManager } from './DiskBlockManager.js';
import { DiskStore, type DiskStoreOptions } from './DiskStore.js';
import { type BlockEvictionHandler, type EvictedData, MemoryStore, type MemoryStoreOptions } from './MemoryStore.js';
import { type BlockCompression, ChunkedBytes, deserialize, deserializeAsync, SerializationStream, serializeBatches, writeBatchesTo } from './serialization.js';
import { StorageLevel } from './StorageLevel.js';

export type ReadMethod = 'memory' | 'disk' | 'network';

/** Where a block is and how big it is there (Spark's BlockStatus). */
export interface BlockStatus {
  readonly level: StorageLevel;
  readonly memSize: number;
  readonly diskSize: number;
}

const EMPTY_STATUS: BlockStatus = Object.freeze({ level: StorageLevel.NONE, memSize: 0, diskSize: 0 });

/** Blocks held by other executors; the session provides one once it has several. */
export interface RemoteBlockSource {
  /** The block's batches and size, or undefined when no other executor has it. */
  getRemoteValues(id: BlockId): Promise<{ batches: AsyncIterable<RecordBatch>; bytes: number } | undefined>;
}

export interface BlockManagerOptions extends MemoryStoreOptions, DiskStoreOptions {
  /** Folders for block files (spark.local.dir); default: the system temp folder. */
  readonly localDirs?: readonly string[];
  /** Shares an existing layout (the operators' spill files) instead of creating one. */
  readonly diskBlockManager?: DiskBlockManager;
  readonly remote?: RemoteBlockSource;
  /** Called whenever a block's status changes (the driver's view, events, reports). */
  readonly onBlockUpdate?: (id: BlockId, status: BlockStatus) => void;
}

/** Options of a single put. */
export interface PutOptions {
  readonly task?: TaskAttemptId;
  /** Report the block's status (default true; false for task results and temporary blocks). */
  readonly tellMaster?: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Serialized levels: this block's codec instead of rdd.compress's. */
  readonly compression?: BlockCompression | undefined;
  /** false: the block's memory comes only from the storage pool as it is (StorageRequest). */
  readonly borrowExecution?: boolean | undefined;
}

type Batches = Iterable<RecordBatch> | AsyncIterable<RecordBatch>;

/**
 * A block's batches, read once. The read lock taken for it is released when the batches have
 * been read to the end, when reading fails, or on close(); whichever comes first.
 */
export class BlockResult implements AsyncIterable<RecordBatch> {
  private released = false;
  private started = false;

  constructor(
    readonly readMethod: ReadMethod,
    /** The block's size where it was read from. */
    readonly bytes: number,
    private readonly source: Batches,
    private readonly release: () => void,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordBatch, void, undefined> {
    if (this.started) throw new InvalidArgumentError('a block result can be read once');
    this.started = true;
    try {
      yield* this.source;
    } finally {
      await this.close();
    }
  }

  /**
   * Releases the read lock without reading (further), at once. A source never read is ended
   * too: it may hold an open block file and unroll memory (a read whose caching back did not
   * fit); the promise resolves once it has (the file is closed).
   */
  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.release();
    if (!this.started) {
      const source = this.source as Partial<AsyncIterator<RecordBatch>>;
      if (typeof source.return === 'function') await Promise.resolve(source.return()).catch(() => undefined);
    }
  }

  /** Every batch, in order. */
  async toArray(): Promise<RecordBatch[]> {
    const batches: RecordBatch[] = [];
    for await (const batch of this) batches.push(batch);
    return batches;
  }
}

export class BlockManager implements BlockEvictionHandler {
  readonly blockInfoManager = new BlockInfoManager();
  readonly memoryStore: MemoryStore;
  readonly diskStore: DiskStore;
  readonly diskBlockManager: DiskBlockManager;
  private readonly ownsDiskBlockManager: boolean;
  private readonly updatedBlocks = new Map<TaskAttemptId, Array<[BlockId, BlockStatus]>>();
  private closed = false;

  constructor(
    readonly memoryManager: MemoryManager,
    private readonly options: BlockManagerOptions = {},
  ) {
    this.ownsDiskBlockManager = options.diskBlockManager === undefined;
    this.diskBlockManager = options.diskBlockManager ?? new DiskBlockManager(options.localDirs);
    this.memoryStore = new MemoryStore(memoryManager, this.blockInfoManager, options);
    this.memoryStore.setEvictionHandler(this);
    this.diskStore = new DiskStore(this.diskBlockManager, options);
  }

  /** A block manager configured by Spark's keys (local.dir, rdd.compress, storage.*). */
  static fromConfig(memoryManager: MemoryManager, config: TungstenConfig, options: Omit<BlockManagerOptions, keyof MemoryStoreOptions | keyof DiskStoreOptions | 'localDirs'> = {}): BlockManager {
    return new BlockManager(memoryManager, {
      ...options,
      ...(config['local.dir'] ? { localDirs: config['local.dir'] } : {}),
      compression: config['rdd.compress'] ? 'lz4' : 'none',
      unrollMemoryThreshold: config['storage.unrollMemoryThreshold'],
      unrollMemoryCheckPeriod: config['storage.unrollMemoryCheckPeriod'],
      unrollMemoryGrowthFactor: config['storage.unrollMemoryGrowthFactor'],
      memoryMapThreshold: config['storage.memoryMapThreshold'],
    });
  }

  registerTask(task: TaskAttemptId): void {
    this.blockInfoManager.registerTask(task);
  }

  /** Releases every lock the task holds (the end of every task); returns those blocks. */
  releaseAllLocksForTask(task: TaskAttemptId): BlockId[] {
    return this.blockInfoManager.releaseAllLocksForTask(task);
  }

  /** Releases one lock the task holds on the block. */
  releaseLock(id: BlockId, task: TaskAttemptId = NON_TASK_WRITER): void {
    this.blockInfoManager.unlock(id, task);
  }

  /** The blocks whose status the task changed, in order, since the last call (task metrics). */
  takeUpdatedBlockStatuses(task: TaskAttemptId): Array<[BlockId, BlockStatus]> {
    const updates = this.updatedBlocks.get(task) ?? [];
    this.updatedBlocks.delete(task);
    return updates;
  }

  // ------------------------------------------------------------------------------- reads

  /** The block from this executor or, failing that, from another one; undefined if none has it. */
  async get(id: BlockId, task: TaskAttemptId = NON_TASK_WRITER, signal?: AbortSignal): Promise<BlockResult | undefined> {
    const local = await this.getLocalValues(id, task, signal);
    if (local) return local;
    const remote = await this.options.remote?.getRemoteValues(id);
    return remote ? new BlockResult('network', remote.bytes, remote.batches, () => undefined) : undefined;
  }

  /** As get, but a missing block is BlockNotFoundError. */
  async getOrThrow(id: BlockId, task: TaskAttemptId = NON_TASK_WRITER, signal?: AbortSignal): Promise<BlockResult> {
    const result = await this.get(id, task, signal);
    if (!result) throw new BlockNotFoundError(id.name);
    return result;
  }

  /**
   * The block's batches from this executor's memory or disk; undefined when it has no such
   * block. A block on disk whose level allows memory is cached back in memory as it is read
   * (Spark's maybeCacheDisk…InMemory), unless `readOnce`: the caller reads it once and removes
   * it (a task result), so caching it would only copy it twice more.
   */
  async getLocalValues(id: BlockId, task: TaskAttemptId = NON_TASK_WRITER, signal?: AbortSignal, options: { readOnce?: boolean } = {}): Promise<BlockResult | undefined> {
    const info = await this.blockInfoManager.lockForReading(id, task, { signal });
    if (!info) return undefined;
    const release = (): void => this.releaseLockIfHeld(id, task);
    const level = info.level;
    try {
      if (level.useMemory && this.memoryStore.contains(id)) {
        return new BlockResult('memory', this.memoryStore.getSize(id), this.memoryStore.getValues(id)!, release);
      }
      if (level.useDisk && this.diskStore.contains(id)) {
        const diskSize = this.diskStore.getSize(id);
        const batches = options.readOnce
          ? this.readFromDisk(id)
          : level.deserialized
            ? await this.maybeCacheDiskValuesInMemory(id, level, task)
            : await this.maybeCacheDiskBytesInMemory(id, level);
        return new BlockResult('disk', diskSize, batches, release);
      }
    } catch (error) {
      release();
      throw error;
    }
    // Locked but in neither store (its file was deleted behind our back, say): forget the
    // block so that it can be recomputed, and say so.
    release();
    await this.removeBlock(id, task);
    throw new BlockNotFoundError(id.name, "it was not found even though it's read-locked (its file may have been deleted); it was forgotten, recompute it");
  }

  /** The block's serialized bytes from this executor; undefined when it has no such block. */
  async getLocalBytes(id: BlockId, task: TaskAttemptId = NON_TASK_WRITER): Promise<ChunkedBytes | undefined> {
    const info = await this.blockInfoManager.lockForReading(id, task);
    if (!info) return undefined;
    try {
      if (this.memoryStore.contains(id)) {
        if (this.memoryStore.isDeserialized(id)) return serializeBatches(this.memoryStore.getValues(id)!, this.memoryStore.compression, this.memoryStore.chunkSize);
        return new ChunkedBytes([...this.memoryStore.getBytes(id)!]);
      }
      if (this.diskStore.contains(id)) return await this.diskStore.getBytes(id);
      throw new BlockNotFoundError(id.name, "it was not found even though it's read-locked (its file may have been deleted)");
    } finally {
      this.releaseLockIfHeld(id, task);
    }
  }

  /**
   * The block's batches from its file. The file's checksum is verified after its last chunk;
   * bytes that are not an Arrow IPC stream fail earlier, inside apache-arrow, and are reported
   * as BLOCK_CORRUPT too.
   */
  private async *readFromDisk(id: BlockId): AsyncGenerator<RecordBatch, void, undefined> {
    try {
      yield* deserializeAsync(this.diskStore.readChunks(id));
    } catch (error) {
      if (error instanceof TungstenError) throw error;
      throw new BlockCorruptError(id.name, `its file is not an Arrow IPC stream (${(error as Error).message})`, { cause: error });
    }
  }

  private async maybeCacheDiskValuesInMemory(id: BlockId, level: StorageLevel, task: TaskAttemptId): Promise<Batches> {
    const fromDisk = this.readFromDisk(id);
    if (!level.useMemory) return fromDisk;
    if (this.memoryStore.contains(id)) {
      await fromDisk.return();
      return this.memoryStore.getValues(id)!;
    }
    const put = await this.memoryStore.putIteratorAsValues(id, fromDisk, { task });
    return put.stored ? this.memoryStore.getValues(id)! : put.partial;
  }

  private async maybeCacheDiskBytesInMemory(id: BlockId, level: StorageLevel): Promise<Batches> {
    if (!level.useMemory) return this.readFromDisk(id);
    if (this.memoryStore.contains(id)) return this.memoryStore.getValues(id)!;
    // Spark's order: the storage memory first, then the file is read into it; refused, the
    // block is read from disk as a stream, never whole into memory nobody granted.
    const cached = await this.memoryStore.putBytes(id, this.diskStore.getSize(id), level.memoryMode, () => this.diskStore.getBytes(id));
    return cached ? this.memoryStore.getValues(id)! : this.readFromDisk(id);
  }

  // ------------------------------------------------------------------------------- writes

  /**
   * Stores a block's batches at `level`. Returns undefined when the block is stored (or was
   * already present), or the batches back when they fit nowhere the level allows (memory only,
   * not enough memory): the caller reads them from there instead.
   */
  async putIterator(id: BlockId, batches: Batches, level: StorageLevel, options: PutOptions = {}): Promise<AsyncIterableIterator<RecordBatch> | undefined> {
    const put = await this.doPutIterator(id, batches, level, options, false);
    return put.kind === 'returned' ? put.batches : undefined;
  }

  /** Stores serialized bytes at `level`; true when stored (or already present). */
  async putBytes(id: BlockId, bytes: ChunkedBytes, level: StorageLevel, options: PutOptions = {}): Promise<boolean> {
    const task = options.task ?? NON_TASK_WRITER;
    const outcome = await this.doPut(id, level, options, false, async () => {
      let stored = false;
      if (level.useMemory) {
        if (level.deserialized) {
          const put = await this.memoryStore.putIteratorAsValues(id, deserialize(bytes.chunks), { task, signal: options.signal });
          if (!put.stored) put.partial.close();
          stored = put.stored;
        } else {
          stored = await this.memoryStore.putBytes(id, bytes.size, level.memoryMode, () => bytes, { borrowExecution: options.borrowExecution ?? true });
        }
      }
      if (!stored && level.useDisk) {
        await this.diskStore.putBytes(id, bytes.chunks);
        stored = true;
      }
      return { kind: stored ? 'stored' : 'returned', size: bytes.size } as const;
    });
    return outcome.kind !== 'returned';
  }

  /**
   * Spark's getOrElseUpdate, the heart of caching: the block's batches if some executor has
   * them, else `compute()`'s batches stored at `level` and read back. When they could not be
   * stored (memory only, too big), the computed batches are returned directly.
   */
  async getOrElseUpdate(
    id: BlockId,
    level: StorageLevel,
    compute: () => Batches,
    options: PutOptions = {},
  ): Promise<{ readonly cached: true; readonly result: BlockResult } | { readonly cached: false; readonly batches: AsyncIterableIterator<RecordBatch> }> {
    const task = options.task ?? NON_TASK_WRITER;
    const existing = await this.get(id, task, options.signal);
    if (existing) return { cached: true, result: existing };
    const put = await this.doPutIterator(id, compute(), level, options, true);
    if (put.kind === 'returned') return { cached: false, batches: put.batches };
    // Stored (by us or by a racing writer), and we hold one read lock on it.
    const result = await this.getLocalValues(id, task, options.signal);
    this.releaseLock(id, task);
    if (!result) throw new InternalError('INTERNAL', `get() failed for block ${id.name} even though we held a lock`);
    return { cached: true, result };
  }

  private async doPutIterator(
    id: BlockId,
    batches: Batches,
    level: StorageLevel,
    options: PutOptions,
    keepReadLock: boolean,
  ): Promise<{ kind: 'stored' | 'existed'; size?: number } | { kind: 'returned'; batches: AsyncIterableIterator<RecordBatch> }> {
    const task = options.task ?? NON_TASK_WRITER;
    return this.doPut(id, level, options, keepReadLock, async () => {
      if (level.useMemory) {
        const iterator = iteratorOf(batches);
        const unroll = { task, signal: options.signal, compression: options.compression, borrowExecution: options.borrowExecution };
        if (level.deserialized) {
          const put = await this.memoryStore.putIteratorAsValues(id, iterator, unroll);
          if (put.stored) return { kind: 'stored', size: put.size };
          if (!level.useDisk) return { kind: 'returned', batches: put.partial };
          // "Persisting block X to disk instead": the unrolled batches, then the rest.
          const size = await this.writeBatchesToDisk(id, put.partial, options.compression);
          return { kind: 'stored', size };
        }
        const put = await this.memoryStore.putIteratorAsBytes(id, iterator, level.memoryMode, unroll);
        if (put.stored) return { kind: 'stored', size: put.size };
        if (!level.useDisk) return { kind: 'returned', batches: put.partial.valuesIterator() };
        const size = await this.diskStore.put(id, (sink) => put.partial.finishWritingToStream(sink));
        return { kind: 'stored', size };
      }
      const size = await this.writeBatchesToDisk(id, batches, options.compression);
      return { kind: 'stored', size };
    });
  }

  /**
   * Spark's doPut: first writer wins; `body` stores the block. Afterwards the block keeps a
   * read lock (keepReadLock) or no lock; if the body throws, or the block ended up nowhere,
   * every trace of it is removed.
   */
  private async doPut<R extends { kind: 'stored' | 'existed' | 'returned'; size?: number }>(
    id: BlockId,
    level: StorageLevel,
    options: PutOptions,
    keepReadLock: boolean,
    body: (info: BlockInfo) => Promise<R>,
  ): Promise<R | { kind: 'existed' }> {
    if (!(level instanceof StorageLevel) || !level.isValid) {
      throw new InvalidArgumentError(`a block must be stored at a valid level (memory or disk, replication ≥ 1), got ${String(level)}`);
    }
    if (this.closed) throw new InvalidArgumentError('the block manager is closed');
    const task = options.task ?? NON_TASK_WRITER;
    const tellMaster = options.tellMaster ?? true;
    const info = new BlockInfo(level, tellMaster);
    if (!(await this.blockInfoManager.lockNewBlockForWriting(id, info, task, { keepReadLock, signal: options.signal }))) {
      // "Block X already exists on this machine; not re-adding it" (a read lock is kept if asked).
      return { kind: 'existed' };
    }
    let result: R;
    try {
      result = await body(info);
    } catch (error) {
      await this.removeBlockInternal(id, task, tellMaster);
      this.recordUpdate(task, id, EMPTY_STATUS);
      throw error;
    }
    const status = this.currentBlockStatus(id, info);
    if (status.level.isValid) {
      info.size = result.size ?? 0;
      this.report(id, status, info, tellMaster);
      this.recordUpdate(task, id, status);
      // Replication above 1 is recorded in the level; with one executor there is no peer yet.
      if (keepReadLock) this.blockInfoManager.downgradeLock(id, task);
      else this.blockInfoManager.unlock(id, task);
    } else {
      // "Putting block X failed": the batches went back to the caller.
      await this.removeBlockInternal(id, task, false);
    }
    return result;
  }

  private async writeBatchesToDisk(id: BlockId, batches: Batches, compression = this.memoryStore.compression): Promise<number> {
    return this.diskStore.put(id, (sink) =>
      writeBatchesTo(new SerializationStream(compression, this.diskStore.chunkSize, (chunk) => sink.write(chunk)), batches, sink),
    );
  }

  // ------------------------------------------------------------------------------- eviction and removal

  /** The MemoryStore's eviction handler: to disk when the level allows, then out of memory. */
  async dropFromMemory(id: BlockId, data: () => EvictedData, task: TaskAttemptId): Promise<StorageLevel> {
    const info = this.blockInfoManager.assertBlockIsLockedForWriting(id, task);
    const level = info.level;
    if (level.useDisk && !this.diskStore.contains(id)) {
      const evicted = data();
      if (evicted.kind === 'values') await this.writeBatchesToDisk(id, evicted.batches);
      else await this.diskStore.putBytes(id, evicted.chunks);
    }
    const removed = this.memoryStore.remove(id);
    const status = this.currentBlockStatus(id, info);
    this.report(id, status, info, true);
    if (removed) this.recordUpdate(task, id, status);
    return status.level;
  }

  /** Removes a block from every store, waiting for its write lock; false when it does not exist. */
  async removeBlock(id: BlockId, task: TaskAttemptId = NON_TASK_WRITER, signal?: AbortSignal): Promise<boolean> {
    const info = await this.blockInfoManager.lockForWriting(id, task, { signal });
    if (!info) return false;
    await this.removeBlockInternal(id, task, info.tellMaster);
    this.recordUpdate(task, id, EMPTY_STATUS);
    return true;
  }

  /** Removes every block of an RDD (unpersist); returns how many there were. */
  async removeRdd(rddId: number, task: TaskAttemptId = NON_TASK_WRITER): Promise<number> {
    const ids = this.blockInfoManager
      .entries()
      .map(([id]) => id)
      .filter((id) => BlockId.isRDD(id) && id.rddId === rddId);
    let removed = 0;
    for (const id of ids) if (await this.removeBlock(id, task)) removed += 1;
    return removed;
  }

  private async removeBlockInternal(id: BlockId, task: TaskAttemptId, tellMaster: boolean): Promise<void> {
    this.memoryStore.remove(id);
    await this.diskStore.remove(id);
    const info = this.blockInfoManager.get(id);
    if (info) {
      this.blockInfoManager.removeBlock(id, task);
      if (tellMaster && info.tellMaster) this.options.onBlockUpdate?.(id, EMPTY_STATUS);
    }
  }

  // ------------------------------------------------------------------------------- status

  /** Where the block is now, per its info's level and the stores. */
  getStatus(id: BlockId): BlockStatus | undefined {
    const info = this.blockInfoManager.get(id);
    return info ? this.currentBlockStatus(id, info) : undefined;
  }

  private currentBlockStatus(id: BlockId, info: BlockInfo): BlockStatus {
    const level = info.level;
    const inMem = level.useMemory && this.memoryStore.contains(id);
    const onDisk = level.useDisk && this.diskStore.contains(id);
    const deserialized = inMem ? level.deserialized : false;
    const replication = inMem || onDisk ? level.replication : 1;
    return {
      level: StorageLevel.of(onDisk, inMem, level.useOffHeap && inMem, deserialized, replication),
      memSize: inMem ? this.memoryStore.getSize(id) : 0,
      diskSize: onDisk ? this.diskStore.getSize(id) : 0,
    };
  }

  private report(id: BlockId, status: BlockStatus, info: BlockInfo, tellMaster: boolean): void {
    if (tellMaster && info.tellMaster) this.options.onBlockUpdate?.(id, status);
  }

  private recordUpdate(task: TaskAttemptId, id: BlockId, status: BlockStatus): void {
    let updates = this.updatedBlocks.get(task);
    if (!updates) this.updatedBlocks.set(task, (updates = []));
    updates.push([id, status]);
  }

  private releaseLockIfHeld(id: BlockId, task: TaskAttemptId): void {
    // A task that ended (releaseAllLocksForTask) may close a result afterwards.
    if (this.blockInfoManager.readLockCount(id, task) > 0) this.blockInfoManager.unlock(id, task);
  }

  /** Drops every block, frees all storage memory and deletes every file; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.memoryStore.clear();
    await this.diskStore.clear();
    this.blockInfoManager.clear();
    this.memoryManager.setEvictor(undefined);
    if (this.ownsDiskBlockManager) this.diskBlockManager.closeSync();
  }
}

function iteratorOf(batches: Batches): Iterator<RecordBatch> | AsyncIterator<RecordBatch> {
  return Symbol.asyncIterator in batches ? batches[Symbol.asyncIterator]() : batches[Symbol.iterator]();
}


