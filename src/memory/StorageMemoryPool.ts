/**
 * Storage memory: cached blocks and unroll memory (Spark's StorageMemoryPool, §1.4).
 *
 * The pool does not know which blocks it holds; the memory store does, and frees space by
 * evicting through the {@link StorageEvictor} it registers with the manager. An eviction
 * releases storage memory synchronously through releaseMemory before it resolves.
 */
import { assertByteCount } from './bytes.js';
import { MemoryPool } from './MemoryPool.js';
import type { MemoryMode } from './MemoryMode.js';

/**
 * What storage must provide so that memory can be taken back from it: the memory store
 * implements this (issue "Storage"); tests drive it with a fake.
 */
export interface StorageEvictor {
  /**
   * Evicts blocks of `memoryMode` until `space` bytes are freed or nothing more can go, never
   * evicting `blockId` itself (or another block of the same RDD). Returns the bytes freed,
   * having released them from the pool already.
   */
  evictBlocksToFreeSpace(blockId: string | undefined, space: number, memoryMode: MemoryMode): Promise<number>;
  /** Unroll memory held by all tasks in `memoryMode` (the legacy manager's unroll cap needs it). */
  currentUnrollMemory?(memoryMode: MemoryMode): number;
}

export class StorageMemoryPool extends MemoryPool {
  private used = 0;
  private evictor: StorageEvictor | undefined;

  get poolName(): string {
    return this.memoryMode === 'ON_HEAP' ? 'on-heap storage' : 'off-heap storage';
  }

  get memoryUsed(): number {
    return this.used;
  }

  setEvictor(evictor: StorageEvictor | undefined): void {
    this.evictor = evictor;
  }

  get storageEvictor(): StorageEvictor | undefined {
    return this.evictor;
  }

  /**
   * Acquires `numBytes` for `blockId`, first evicting `numBytesToFree` (by default what is
   * missing). All or nothing: true if the bytes were added to the pool's use.
   */
  async acquireMemory(
    blockId: string | undefined,
    numBytes: number,
    numBytesToFree: number = Math.max(0, numBytes - this.memoryFree),
  ): Promise<boolean> {
    assertByteCount(numBytes, 'numBytes');
    if (numBytesToFree > 0 && this.evictor) {
      await this.evictor.evictBlocksToFreeSpace(blockId, numBytesToFree, this.memoryMode);
    }
    const enoughMemory = numBytes <= this.memoryFree;
    if (enoughMemory) this.used += numBytes;
    return enoughMemory;
  }

  /** Releases `size` bytes; more than is used clamps to 0, as Spark does (with a warning). */
  releaseMemory(size: number): void {
    assertByteCount(size, 'size');
    this.used = size > this.used ? 0 : this.used - size;
  }

  releaseAllMemory(): void {
    this.used = 0;
  }

  /**
   * Frees `spaceToFree` bytes so the pool can shrink by that much: unused bytes first, then
   * eviction. Returns the bytes freed; the caller changes the pool sizes, only after this
   * returns, so a failing eviction leaves both pools as they were (SPARK-15260).
   */
  async freeSpaceToShrinkPool(spaceToFree: number): Promise<number> {
    const spaceFreedByReleasingUnusedMemory = Math.min(spaceToFree, this.memoryFree);
    const remainingSpaceToFree = spaceToFree - spaceFreedByReleasingUnusedMemory;
    if (remainingSpaceToFree > 0 && this.evictor) {
      const spaceFreedByEviction = await this.evictor.evictBlocksToFreeSpace(
        undefined,
        remainingSpaceToFree,
        this.memoryMode,
      );
      return spaceFreedByReleasingUnusedMemory + spaceFreedByEviction;
    }
    return spaceFreedByReleasingUnusedMemory;
  }
}
