/**
 * Spark's UnifiedMemoryManager (spark-semantics §1.2): execution and storage share one region
 * per memory mode and borrow from each other.
 *
 * Sizes, per mode:
 *   ON_HEAP   max = ⌊(systemMemory − reserved) × memory.fraction⌋, where systemMemory is
 *             `testing.memory` or else `executor.memory`, and reserved is 300 MiB
 *             (`testing.reservedMemory` overrides). Below 1.5 × reserved the manager refuses
 *             to start.
 *   OFF_HEAP  max = memory.offHeap.size.
 *   The storage region is ⌊max × memory.storageFraction⌋; the execution pool starts at the rest.
 *
 * The rules:
 *   - Execution may take storage's free memory at any time, and may evict cached blocks, but
 *     only down to the storage region: storage inside the region is never evicted by execution.
 *   - Storage may borrow execution's free memory, but never evicts execution.
 *   - A task's execution share is capped by the size the pool could reach,
 *     max − min(storage used, storage region) (SPARK-12155).
 *   - Pool sizes change only after an eviction returns, so a failing eviction leaves them as
 *     they were (SPARK-15260).
 *   - After every call, execution pool + storage pool == max, per mode.
 */
import { type TungstenConfig } from '../config/options.js';
import { InternalError, InvalidMemoryError } from '../errors.js';
import { scaleBytes } from './bytes.js';
import type { TaskAttemptId } from './ExecutionMemoryPool.js';
import { MemoryManager, type StorageRequest } from './MemoryManager.js';
import { MemoryMode } from './MemoryMode.js';

/** Spark's RESERVED_SYSTEM_MEMORY_BYTES. */
export const RESERVED_SYSTEM_MEMORY_BYTES = 300 * 2 ** 20;

export interface UnifiedMemoryManagerSizes {
  readonly numCores: number;
  readonly maxHeapMemory: number;
  readonly onHeapStorageRegionSize: number;
  readonly maxOffHeapMemory: number;
  readonly offHeapStorageRegionSize: number;
  readonly pageSizeBytes?: number | undefined;
}

/**
 * Spark's UnifiedMemoryManager.getMaxMemory: the ON_HEAP region after the reserve, or an
 * InvalidMemoryError if the memory given is below 1.5 × the reserve.
 */
export function maxOnHeapMemory(config: TungstenConfig): number {
  const systemMemory = config['testing.memory'] ?? config['executor.memory'];
  const reservedMemory = config['testing.reservedMemory'] ?? RESERVED_SYSTEM_MEMORY_BYTES;
  const minSystemMemory = Math.ceil(reservedMemory * 1.5);
  if (systemMemory < minSystemMemory) {
    throw new InvalidMemoryError('INVALID_DRIVER_MEMORY', systemMemory, minSystemMemory, 'executor.memory');
  }
  // Spark checks spark.executor.memory separately when it is set and testing.memory decides
  // the system memory; without testing.memory the two are the same number.
  if (config['testing.memory'] !== undefined && config['executor.memory'] < minSystemMemory) {
    throw new InvalidMemoryError('INVALID_EXECUTOR_MEMORY', config['executor.memory'], minSystemMemory, 'executor.memory');
  }
  return scaleBytes(systemMemory - reservedMemory, config['memory.fraction']);
}

export class UnifiedMemoryManager extends MemoryManager {
  readonly maxHeapMemory: number;
  readonly maxOffHeapMemory: number;
  readonly onHeapStorageRegionSize: number;
  readonly offHeapStorageRegionSize: number;

  constructor(sizes: UnifiedMemoryManagerSizes) {
    super({
      numCores: sizes.numCores,
      onHeapStorageMemory: sizes.onHeapStorageRegionSize,
      onHeapExecutionMemory: sizes.maxHeapMemory - sizes.onHeapStorageRegionSize,
      offHeapStorageMemory: sizes.offHeapStorageRegionSize,
      offHeapExecutionMemory: sizes.maxOffHeapMemory - sizes.offHeapStorageRegionSize,
      pageSizeBytes: sizes.pageSizeBytes,
    });
    this.maxHeapMemory = sizes.maxHeapMemory;
    this.maxOffHeapMemory = sizes.maxOffHeapMemory;
    this.onHeapStorageRegionSize = sizes.onHeapStorageRegionSize;
    this.offHeapStorageRegionSize = sizes.offHeapStorageRegionSize;
    this.assertInvariants();
  }

  static fromConfig(config: TungstenConfig): UnifiedMemoryManager {
    const maxHeapMemory = maxOnHeapMemory(config);
    const maxOffHeapMemory = config['memory.offHeap.size'];
    return new UnifiedMemoryManager({
      numCores: config['executor.cores'],
      maxHeapMemory,
      onHeapStorageRegionSize: scaleBytes(maxHeapMemory, config['memory.storageFraction']),
      maxOffHeapMemory,
      offHeapStorageRegionSize: scaleBytes(maxOffHeapMemory, config['memory.storageFraction']),
      pageSizeBytes: config['buffer.pageSize'],
    });
  }

  private maxMemory(memoryMode: MemoryMode): number {
    return memoryMode === MemoryMode.ON_HEAP ? this.maxHeapMemory : this.maxOffHeapMemory;
  }

  private storageRegionSize(memoryMode: MemoryMode): number {
    return memoryMode === MemoryMode.ON_HEAP ? this.onHeapStorageRegionSize : this.offHeapStorageRegionSize;
  }

  /** Execution pool + storage pool == max, per mode. A violation is an engine bug. */
  assertInvariants(): void {
    for (const mode of [MemoryMode.ON_HEAP, MemoryMode.OFF_HEAP]) {
      const sum = this.executionPool(mode).poolSize + this.storagePool(mode).poolSize;
      if (sum !== this.maxMemory(mode)) {
        throw new InternalError('INVARIANT_VIOLATED', `${mode}: execution + storage pools = ${sum}, expected ${this.maxMemory(mode)}`);
      }
    }
  }

  get maxOnHeapStorageMemory(): number {
    return this.maxHeapMemory - this.onHeapExecutionMemoryPool.memoryUsed;
  }

  get maxOffHeapStorageMemory(): number {
    return this.maxOffHeapMemory - this.offHeapExecutionMemoryPool.memoryUsed;
  }

  private async checked<T>(call: () => Promise<T>): Promise<T> {
    this.assertInvariants();
    try {
      return await call();
    } finally {
      this.assertInvariants();
    }
  }

  acquireExecutionMemory(
    numBytes: number,
    taskAttemptId: TaskAttemptId,
    memoryMode: MemoryMode,
    signal?: AbortSignal,
  ): Promise<number> {
    const executionPool = this.executionPool(memoryMode);
    const storagePool = this.storagePool(memoryMode);
    const storageRegionSize = this.storageRegionSize(memoryMode);
    const maxMemory = this.maxMemory(memoryMode);

    // Called with the manager's lock held, by the pool, on every attempt.
    const maybeGrowExecutionPool = async (extraMemoryNeeded: number): Promise<void> => {
      if (extraMemoryNeeded <= 0) return;
      // Free storage memory can always be taken; cached blocks only above the region.
      const memoryReclaimableFromStorage = Math.max(
        storagePool.memoryFree,
        storagePool.poolSize - storageRegionSize,
      );
      if (memoryReclaimableFromStorage > 0) {
        const spaceToReclaim = await storagePool.freeSpaceToShrinkPool(
          Math.min(extraMemoryNeeded, memoryReclaimableFromStorage),
        );
        storagePool.decrementPoolSize(spaceToReclaim);
        executionPool.incrementPoolSize(spaceToReclaim);
      }
    };
    const computeMaxExecutionPoolSize = (): number =>
      maxMemory - Math.min(storagePool.memoryUsed, storageRegionSize);

    return this.checked(() =>
      executionPool.acquireMemory(
        numBytes,
        taskAttemptId,
        maybeGrowExecutionPool,
        computeMaxExecutionPoolSize,
        signal,
      ),
    );
  }

  protected acquireStorageMemoryLocked(blockId: string, numBytes: number, memoryMode: MemoryMode, request: StorageRequest = {}): Promise<boolean> {
    return this.checked(async () => {
      const executionPool = this.executionPool(memoryMode);
      const storagePool = this.storagePool(memoryMode);
      const maxMemory =
        memoryMode === MemoryMode.ON_HEAP ? this.maxOnHeapStorageMemory : this.maxOffHeapStorageMemory;
      if (numBytes > maxMemory) {
        // Spark: "Will not store <block> as the required space (n bytes) exceeds our memory
        // limit (m bytes)"; no eviction is attempted.
        return false;
      }
      if (numBytes > storagePool.memoryFree && request.borrowExecution !== false) {
        // Borrow what execution does not use; never evict execution.
        const memoryBorrowedFromExecution = Math.min(executionPool.memoryFree, numBytes - storagePool.memoryFree);
        executionPool.decrementPoolSize(memoryBorrowedFromExecution);
        storagePool.incrementPoolSize(memoryBorrowedFromExecution);
      }
      return storagePool.acquireMemory(blockId, numBytes);
    });
  }

  acquireUnrollMemory(blockId: string, numBytes: number, memoryMode: MemoryMode, request: StorageRequest = {}): Promise<boolean> {
    return this.acquireStorageMemory(blockId, numBytes, memoryMode, request);
  }
}
