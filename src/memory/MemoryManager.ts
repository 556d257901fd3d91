/**
 * The executor's memory manager: four pools (execution and storage, on- and off-heap) and the
 * rules for moving bytes between them (Spark's MemoryManager, spark-semantics §1.1).
 *
 * What is tracked: bytes per pool, and execution bytes per task. What is not: which bytes
 * belong to which page or block; the TaskMemoryManager and the memory store know that.
 *
 * Tungsten pages are always native memory here, so the Tungsten memory mode is OFF_HEAP and
 * the page size derives from the off-heap execution pool.
 *
 * Every acquire is async (eviction may have to write blocks to disk) and runs under one mutex
 * per manager, as Spark synchronises on the manager; releases are synchronous.
 */
import { InvalidArgumentError } from '../errors.js';
import { AsyncMutex } from '../util/sync.js';
import { assertByteCount, floorDiv, nextPowerOf2 } from './bytes.js';
import { ExecutionMemoryPool, type TaskAttemptId } from './ExecutionMemoryPool.js';
import { MemoryMode } from './MemoryMode.js';
import { type StorageEvictor, StorageMemoryPool } from './StorageMemoryPool.js';

export interface MemoryManagerSizes {
  /** Task slots, for the default page size. */
  readonly numCores: number;
  readonly onHeapStorageMemory: number;
  readonly onHeapExecutionMemory: number;
  readonly offHeapStorageMemory: number;
  readonly offHeapExecutionMemory: number;
  /** `buffer.pageSize`; computed by {@link defaultPageSizeBytes} when absent. */
  readonly pageSizeBytes?: number | undefined;
}

const MIN_PAGE_SIZE = 2 ** 20;
const MAX_PAGE_SIZE = 64 * 2 ** 20;
const PAGE_SAFETY_FACTOR = 16;

/**
 * Spark's default page size: nextPowerOf2(pool / cores / 16), clamped to [1 MiB, 64 MiB]
 * (§1.1). Pages are native memory, so there is no G1 adjustment.
 */
export function defaultPageSizeBytes(maxTungstenMemory: number, cores: number): number {
  const size = nextPowerOf2(floorDiv(floorDiv(maxTungstenMemory, cores), PAGE_SAFETY_FACTOR));
  return Math.min(MAX_PAGE_SIZE, Math.max(MIN_PAGE_SIZE, size));
}

/**
 * The largest spill block a task can still merge: a merge pass holds at least two read buffers
 * and a write buffer, each twice the block when compressed, and a task is only sure of 1/(2N)
 * of the execution pool (N ≤ cores). With 1 MiB blocks (the page size floor) a few-MB budget on
 * 2 cores could not merge runs at all ("Not enough memory to merge 4 spilled runs").
 */
export function maxSpillBlockBytes(executionPoolSize: number, cores: number): number {
  return floorDiv(floorDiv(executionPoolSize, 2 * cores), 2 * 3);
}

/**
 * How a storage request may grow the storage pool. By default (Spark's rule) it borrows what
 * execution does not use. `borrowExecution: false` takes only the storage pool's free memory
 * and what evicting its blocks frees: for blocks written while operators still run (task
 * results), whose unroll memory execution could not take back, since unroll memory is never
 * evicted.
 */
export interface StorageRequest {
  readonly borrowExecution?: boolean;
}

export abstract class MemoryManager {
  protected readonly lock = new AsyncMutex();
  protected readonly onHeapStorageMemoryPool = new StorageMemoryPool(MemoryMode.ON_HEAP);
  protected readonly offHeapStorageMemoryPool = new StorageMemoryPool(MemoryMode.OFF_HEAP);
  protected readonly onHeapExecutionMemoryPool = new ExecutionMemoryPool(MemoryMode.ON_HEAP, this.lock);
  protected readonly offHeapExecutionMemoryPool = new ExecutionMemoryPool(MemoryMode.OFF_HEAP, this.lock);
  /** Tungsten pages are native memory: always OFF_HEAP. */
  readonly tungstenMemoryMode: MemoryMode = MemoryMode.OFF_HEAP;
  readonly pageSizeBytes: number;
  /** See maxSpillBlockBytes; from the off-heap execution pool at construction, as the page size. */
  readonly maxSpillBlockBytes: number;
  readonly numCores: number;

  constructor(sizes: MemoryManagerSizes) {
    for (const [name, value] of Object.entries(sizes)) {
      if (value !== undefined) assertByteCount(value, name);
    }
    if (sizes.numCores < 1) throw new InvalidArgumentError(`numCores must be at least 1, got ${sizes.numCores}`);
    this.numCores = sizes.numCores;
    this.onHeapStorageMemoryPool.incrementPoolSize(sizes.onHeapStorageMemory);
    this.onHeapExecutionMemoryPool.incrementPoolSize(sizes.onHeapExecutionMemory);
    this.offHeapStorageMemoryPool.incrementPoolSize(sizes.offHeapStorageMemory);
    this.offHeapExecutionMemoryPool.incrementPoolSize(sizes.offHeapExecutionMemory);
    // Sized from the pool at construction, as Spark does, not from what it may grow to.
    this.pageSizeBytes =
      sizes.pageSizeBytes ?? defaultPageSizeBytes(this.offHeapExecutionMemoryPool.poolSize, sizes.numCores);
    this.maxSpillBlockBytes = maxSpillBlockBytes(this.offHeapExecutionMemoryPool.poolSize, sizes.numCores);
  }

  /** Registers the memory store, which evicts blocks when execution or storage needs room. */
  setEvictor(evictor: StorageEvictor | undefined): void {
    this.onHeapStorageMemoryPool.setEvictor(evictor);
    this.offHeapStorageMemoryPool.setEvictor(evictor);
  }

  /** The most storage could hold now in each mode. */
  abstract get maxOnHeapStorageMemory(): number;
  abstract get maxOffHeapStorageMemory(): number;

  /**
   * Acquires `numBytes` to cache `blockId`, evicting other blocks if needed; all or nothing.
   * `borrowExecution: false` keeps the request to the storage pool as it is (Spark always lets
   * storage borrow execution's free memory; task results do not, see StorageRequest).
   */
  acquireStorageMemory(blockId: string, numBytes: number, memoryMode: MemoryMode, request: StorageRequest = {}): Promise<boolean> {
    return this.lock.run(() => this.acquireStorageMemoryLocked(blockId, numBytes, memoryMode, request));
  }

  /**
   * Releases `unrollBytes` of a block's unroll memory and acquires `storageBytes` of storage
   * memory for it under one lock, so no other request can take the released bytes in between
   * (Spark does both inside `memoryManager.synchronized`). The memory store calls it with
   * storageBytes ≤ unrollBytes, so it cannot fail for lack of memory.
   */
  transferUnrollToStorage(blockId: string, unrollBytes: number, storageBytes: number, memoryMode: MemoryMode): Promise<boolean> {
    return this.lock.run(() => {
      this.releaseUnrollMemory(unrollBytes, memoryMode);
      return this.acquireStorageMemoryLocked(blockId, storageBytes, memoryMode);
    });
  }

  /** acquireStorageMemory's rules; the caller holds the manager's lock. */
  protected abstract acquireStorageMemoryLocked(blockId: string, numBytes: number, memoryMode: MemoryMode, request?: StorageRequest): Promise<boolean>;

  /** Acquires unroll memory for `blockId` (a block being materialised); all or nothing. */
  abstract acquireUnrollMemory(blockId: string, numBytes: number, memoryMode: MemoryMode, request?: StorageRequest): Promise<boolean>;

  /**
   * Acquires up to `numBytes` of execution memory for a task; may wait for the task's fair
   * share and may return less, even 0. `signal` aborts a wait with TaskKilledError.
   */
  abstract acquireExecutionMemory(
    numBytes: number,
    taskAttemptId: TaskAttemptId,
    memoryMode: MemoryMode,
    signal?: AbortSignal,
  ): Promise<number>;

  releaseExecutionMemory(numBytes: number, taskAttemptId: TaskAttemptId, memoryMode: MemoryMode): void {
    this.executionPool(memoryMode).releaseMemory(numBytes, taskAttemptId);
  }

  /** Releases all of a task's execution memory in both modes; returns the bytes. */
  releaseAllExecutionMemoryForTask(taskAttemptId: TaskAttemptId): number {
    return (
      this.onHeapExecutionMemoryPool.releaseAllMemoryForTask(taskAttemptId) +
      this.offHeapExecutionMemoryPool.releaseAllMemoryForTask(taskAttemptId)
    );
  }

  releaseStorageMemory(numBytes: number, memoryMode: MemoryMode): void {
    this.storagePool(memoryMode).releaseMemory(numBytes);
  }

  releaseAllStorageMemory(): void {
    this.onHeapStorageMemoryPool.releaseAllMemory();
    this.offHeapStorageMemoryPool.releaseAllMemory();
  }

  releaseUnrollMemory(numBytes: number, memoryMode: MemoryMode): void {
    this.releaseStorageMemory(numBytes, memoryMode);
  }

  get executionMemoryUsed(): number {
    return this.onHeapExecutionMemoryPool.memoryUsed + this.offHeapExecutionMemoryPool.memoryUsed;
  }

  get storageMemoryUsed(): number {
    return this.onHeapStorageMemoryPool.memoryUsed + this.offHeapStorageMemoryPool.memoryUsed;
  }

  /** The execution bytes a task holds, both modes. */
  getExecutionMemoryUsageForTask(taskAttemptId: TaskAttemptId): number {
    return (
      this.onHeapExecutionMemoryPool.getMemoryUsageForTask(taskAttemptId) +
      this.offHeapExecutionMemoryPool.getMemoryUsageForTask(taskAttemptId)
    );
  }

  /** A snapshot of every pool, for metrics, events and tests. */
  snapshot(): MemorySnapshot {
    const pool = (p: { poolSize: number; memoryUsed: number }): PoolSnapshot => ({ size: p.poolSize, used: p.memoryUsed });
    return {
      onHeapExecution: pool(this.onHeapExecutionMemoryPool),
      onHeapStorage: pool(this.onHeapStorageMemoryPool),
      offHeapExecution: pool(this.offHeapExecutionMemoryPool),
      offHeapStorage: pool(this.offHeapStorageMemoryPool),
    };
  }

  /** Tasks waiting for their fair share in a mode's execution pool. */
  numWaitingTasks(memoryMode: MemoryMode): number {
    return this.executionPool(memoryMode).numWaitingTasks;
  }

  protected executionPool(memoryMode: MemoryMode): ExecutionMemoryPool {
    return memoryMode === MemoryMode.ON_HEAP ? this.onHeapExecutionMemoryPool : this.offHeapExecutionMemoryPool;
  }

  protected storagePool(memoryMode: MemoryMode): StorageMemoryPool {
    return memoryMode === MemoryMode.ON_HEAP ? this.onHeapStorageMemoryPool : this.offHeapStorageMemoryPool;
  }
}

export interface PoolSnapshot {
  readonly size: number;
  readonly used: number;
}

export interface MemorySnapshot {
  readonly onHeapExecution: PoolSnapshot;
  readonly onHeapStorage: PoolSnapshot;
  readonly offHeapExecution: PoolSnapshot;
  readonly offHeapStorage: PoolSnapshot;
}
