/**
 * The legacy StaticMemoryManager (Spark 1.6–2.4, `memory.useLegacyMode`; spark-semantics §1.5),
 * kept to compare against the unified manager.
 *
 * Fixed, separate regions; nothing is borrowed either way:
 *   execution (ON_HEAP) = ⌊system × shuffle.memoryFraction × shuffle.safetyFraction⌋
 *   storage   (ON_HEAP) = ⌊system × storage.memoryFraction × storage.safetyFraction⌋
 *   OFF_HEAP: all of memory.offHeap.size is execution; off-heap storage is not supported.
 * Unrolling a block may evict at most storage × storage.unrollFraction worth of other blocks.
 * The system memory must be at least 32 MiB.
 */
import { type TungstenConfig } from '../config/options.js';
import { InvalidArgumentError, InvalidMemoryError } from '../errors.js';
import { scaleBytes } from './bytes.js';
import type { TaskAttemptId } from './ExecutionMemoryPool.js';
import { MemoryManager } from './MemoryManager.js';
import { MemoryMode } from './MemoryMode.js';

export const STATIC_MIN_MEMORY_BYTES = 32 * 2 ** 20;

export interface StaticMemoryManagerSizes {
  readonly numCores: number;
  readonly maxOnHeapExecutionMemory: number;
  readonly maxOnHeapStorageMemory: number;
  readonly maxOffHeapMemory: number;
  readonly unrollFraction: number;
  readonly pageSizeBytes?: number | undefined;
}

export class StaticMemoryManager extends MemoryManager {
  readonly maxUnrollMemory: number;
  private readonly storageLimit: number;

  constructor(sizes: StaticMemoryManagerSizes) {
    super({
      numCores: sizes.numCores,
      onHeapStorageMemory: sizes.maxOnHeapStorageMemory,
      onHeapExecutionMemory: sizes.maxOnHeapExecutionMemory,
      offHeapStorageMemory: 0,
      offHeapExecutionMemory: sizes.maxOffHeapMemory,
      pageSizeBytes: sizes.pageSizeBytes,
    });
    this.storageLimit = sizes.maxOnHeapStorageMemory;
    this.maxUnrollMemory = scaleBytes(sizes.maxOnHeapStorageMemory, sizes.unrollFraction);
  }

  static fromConfig(config: TungstenConfig): StaticMemoryManager {
    const systemMemory = config['testing.memory'] ?? config['executor.memory'];
    if (systemMemory < STATIC_MIN_MEMORY_BYTES) {
      throw new InvalidMemoryError('INVALID_DRIVER_MEMORY', systemMemory, STATIC_MIN_MEMORY_BYTES, 'executor.memory');
    }
    if (config['executor.memory'] < STATIC_MIN_MEMORY_BYTES) {
      throw new InvalidMemoryError('INVALID_EXECUTOR_MEMORY', config['executor.memory'], STATIC_MIN_MEMORY_BYTES, 'executor.memory');
    }
    // One expression, left to right, as Spark multiplies (system * fraction * safety).toLong.
    const scaled = (a: number, b: number): number => Math.trunc(systemMemory * a * b);
    return new StaticMemoryManager({
      numCores: config['executor.cores'],
      maxOnHeapExecutionMemory: scaled(config['shuffle.memoryFraction'], config['shuffle.safetyFraction']),
      maxOnHeapStorageMemory: scaled(config['storage.memoryFraction'], config['storage.safetyFraction']),
      maxOffHeapMemory: config['memory.offHeap.size'],
      unrollFraction: config['storage.unrollFraction'],
      pageSizeBytes: config['buffer.pageSize'],
    });
  }

  get maxOnHeapStorageMemory(): number {
    return this.storageLimit;
  }

  get maxOffHeapStorageMemory(): number {
    return 0;
  }

  private requireOnHeap(memoryMode: MemoryMode, what: string): void {
    if (memoryMode === MemoryMode.OFF_HEAP) {
      throw new InvalidArgumentError(`StaticMemoryManager does not support off-heap ${what} memory`);
    }
  }

  override acquireStorageMemory(blockId: string, numBytes: number, memoryMode: MemoryMode): Promise<boolean> {
    this.requireOnHeap(memoryMode, 'storage');
    return super.acquireStorageMemory(blockId, numBytes, memoryMode);
  }

  protected async acquireStorageMemoryLocked(blockId: string, numBytes: number): Promise<boolean> {
    if (numBytes > this.storageLimit) return false; // the block simply won't fit
    return this.onHeapStorageMemoryPool.acquireMemory(blockId, numBytes);
  }

  acquireUnrollMemory(blockId: string, numBytes: number, memoryMode: MemoryMode): Promise<boolean> {
    this.requireOnHeap(memoryMode, 'unroll');
    return this.lock.run(async () => {
      const pool = this.onHeapStorageMemoryPool;
      const currentUnrollMemory = pool.storageEvictor?.currentUnrollMemory?.(MemoryMode.ON_HEAP) ?? 0;
      const freeMemory = pool.memoryFree;
      // Unrolling uses all free memory and may evict, but only up to maxUnrollMemory in all, so
      // one big block cannot blow away the whole cache.
      const maxNumBytesToFree = Math.max(0, this.maxUnrollMemory - currentUnrollMemory - freeMemory);
      const numBytesToFree = Math.max(0, Math.min(maxNumBytesToFree, numBytes - freeMemory));
      return pool.acquireMemory(blockId, numBytes, numBytesToFree);
    });
  }

  acquireExecutionMemory(
    numBytes: number,
    taskAttemptId: TaskAttemptId,
    memoryMode: MemoryMode,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.executionPool(memoryMode).acquireMemory(numBytes, taskAttemptId, undefined, undefined, signal);
  }
}

