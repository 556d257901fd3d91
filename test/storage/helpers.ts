/**
 * Storage test setups: Spark's test stores (a unified manager whose storage region is the
 * whole budget, one core) and batches of a given byte size (one uint8 column, no nulls, so
 * the batch holds exactly that many bytes).
 */
import { makeData, type RecordBatch, Uint8 } from 'apache-arrow';
import { UnifiedMemoryManager } from '../../src/memory/UnifiedMemoryManager.js';
import { BlockManager, type BlockManagerOptions } from '../../src/storage/BlockManager.js';
import { BlockInfoManager } from '../../src/storage/BlockInfoManager.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/storage/MemoryStore.js';
import { batchOf } from '../support/arrowData.js';
import { testDiskBlockManager, track, trackLocks } from '../support/leaks.js';
import { Random } from '../support/random.js';

/** Spark's makeMemoryStore/makeBlockManager memory: `maxMem` per mode, `region` of it storage region. */
export function storeMemory(maxMem: number, region = maxMem): UnifiedMemoryManager {
  return track(
    new UnifiedMemoryManager({
      numCores: 1,
      maxHeapMemory: maxMem,
      onHeapStorageRegionSize: region,
      maxOffHeapMemory: maxMem,
      offHeapStorageRegionSize: region,
    }),
  );
}

export function memoryStore(maxMem: number, options: MemoryStoreOptions = {}): { mm: UnifiedMemoryManager; bim: BlockInfoManager; store: MemoryStore } {
  const mm = storeMemory(maxMem);
  const bim = trackLocks(new BlockInfoManager());
  const store = new MemoryStore(mm, bim, { unrollMemoryThreshold: 512, compression: 'none', ...options });
  return { mm, bim, store };
}

/** A block manager over a test disk folder; close it at the end of the test. */
export function blockManager(mm: UnifiedMemoryManager, options: BlockManagerOptions = {}): BlockManager {
  const bm = new BlockManager(mm, { diskBlockManager: testDiskBlockManager(), unrollMemoryThreshold: 512, ...options });
  trackLocks(bm.blockInfoManager);
  return bm;
}

/** A batch of `bytes` random bytes (one uint8 column); the seed makes the content reproducible. */
export function bytesBatch(bytes: number, seed: number): RecordBatch {
  const rng = new Random(seed);
  const values = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) values[i] = rng.int(256);
  return batchOf([{ name: 'b', data: makeData({ type: new Uint8(), length: bytes, nullCount: 0, data: values }) }]);
}

/** `count` batches of `bytes` bytes each: Spark's "small" (40 × 100) and "big" (40 × 1000) lists. */
export function batchList(count: number, bytes: number, seed: number): RecordBatch[] {
  return Array.from({ length: count }, (_, i) => bytesBatch(bytes, seed * 1000 + i));
}

/** The batches' bytes, concatenated, to compare what came back with what went in. */
export function contentOf(batches: readonly RecordBatch[]): number[][] {
  return batches.map((batch) => [...(batch.getChildAt(0)!.toArray() as Uint8Array)]);
}

export async function collect<T>(iterable: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
