/**
 * The eviction hook of spark-semantics §1.9's setup: evicts exactly the requested number of
 * bytes of storage if that many are used (nothing otherwise), and records each request.
 */
import type { MemoryManager } from '../../src/memory/MemoryManager.js';
import type { MemoryMode } from '../../src/memory/MemoryMode.js';
import type { StorageEvictor } from '../../src/memory/StorageMemoryPool.js';

export class FakeEvictor implements StorageEvictor {
  readonly requests: number[] = [];
  failWith: Error | undefined;
  /** What currentUnrollMemory() reports (the legacy manager's unroll cap reads it). */
  unrollMemory = 0;

  constructor(private readonly manager: MemoryManager) {
    manager.setEvictor(this);
  }

  async evictBlocksToFreeSpace(_blockId: string | undefined, space: number, mode: MemoryMode): Promise<number> {
    this.requests.push(space);
    if (this.failWith) throw this.failWith;
    const snapshot = this.manager.snapshot();
    const used = mode === 'ON_HEAP' ? snapshot.onHeapStorage.used : snapshot.offHeapStorage.used;
    if (used < space) return 0;
    this.manager.releaseStorageMemory(space, mode);
    return space;
  }

  currentUnrollMemory(): number {
    return this.unrollMemory;
  }

  /** The requests since the last call. */
  take(): number[] {
    return this.requests.splice(0);
  }
}
