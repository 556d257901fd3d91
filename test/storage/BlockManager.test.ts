import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import type { RecordBatch } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { BlockCorruptError, BlockNotFoundError } from '../../src/errors.js';
import { nativeAllocator } from '../../src/memory/MemoryBlock.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { BlockId } from '../../src/storage/BlockId.js';
import { BlockManager } from '../../src/storage/BlockManager.js';
import { StorageLevel } from '../../src/storage/StorageLevel.js';
import { settle } from '../memory/helpers.js';
import { Random } from '../support/random.js';
import { batchList, blockManager, bytesBatch, collect, contentOf, storeMemory } from './helpers.js';

/** Stores and reports whether the block is now stored; batches handed back are read out. */
async function put(bm: BlockManager, id: BlockId, batches: RecordBatch[], level: StorageLevel, task?: number): Promise<boolean> {
  const returned = await bm.putIterator(id, batches, level, task === undefined ? {} : { task });
  if (returned) await collect(returned);
  return returned === undefined;
}

/** The block's content from this executor, or undefined. */
async function read(bm: BlockManager, id: BlockId, task?: number): Promise<number[][] | undefined> {
  const result = await bm.get(id, task);
  return result ? contentOf(await result.toArray()) : undefined;
}

describe('BlockManager', () => {
  test.each([
    ['MEMORY_ONLY', StorageLevel.MEMORY_ONLY],
    ['MEMORY_ONLY_SER', StorageLevel.MEMORY_ONLY_SER],
    ['OFF_HEAP', StorageLevel.OFF_HEAP],
  ])('AC-BM-01 %s: least recently used blocks are evicted first, and reads count as use', async (_, level) => {
    const bm = blockManager(storeMemory(12000));
    const [a1, a2, a3] = ['a1', 'a2', 'a3'].map((n) => BlockId.test(n)) as [BlockId, BlockId, BlockId];
    const data = { a1: bytesBatch(4000, 1), a2: bytesBatch(4000, 2), a3: bytesBatch(4000, 3) };
    for (const [id, batch] of [[a1, data.a1], [a2, data.a2], [a3, data.a3]] as const) expect(await put(bm, id, [batch], level)).toBe(true);
    const inMemory = (id: BlockId): boolean => bm.memoryStore.contains(id);
    // OFF_HEAP also uses disk, so a1 went there rather than away.
    expect([inMemory(a1), inMemory(a2), inMemory(a3)]).toEqual([false, true, true]);
    expect(await read(bm, a2)).toEqual(contentOf([data.a2]));
    expect(await read(bm, a3)).toEqual(contentOf([data.a3]));
    expect(await read(bm, a2)).toEqual(contentOf([data.a2]));
    if (level === StorageLevel.OFF_HEAP) await bm.removeBlock(a1);
    expect(await put(bm, a1, [data.a1], level)).toBe(true);
    expect([inMemory(a1), inMemory(a2), inMemory(a3)]).toEqual([true, true, false]);
    await bm.close();
  });

  test('AC-BM-02 partitions of the same RDD do not evict each other', async () => {
    const bm = blockManager(storeMemory(12000));
    const ids = [1, 2, 3].map((split) => BlockId.rdd(0, split));
    const stored = [];
    for (const [i, id] of ids.entries()) stored.push(await put(bm, id, [bytesBatch(4000, i)], StorageLevel.MEMORY_ONLY));
    expect(stored).toEqual([true, true, false]);
    expect(ids.map((id) => bm.memoryStore.contains(id))).toEqual([true, true, false]);
    for (let i = 0; i < 3; i++) expect(await bm.get(ids[2]!)).toBeUndefined();
    await bm.close();
  });

  test('AC-BM-04 a block larger than the store: not stored at MEMORY_ONLY, on disk at MEMORY_AND_DISK', async () => {
    const bm = blockManager(storeMemory(5000));
    const batch = bytesBatch(10000, 4);
    expect(await put(bm, BlockId.test('big'), [batch], StorageLevel.MEMORY_ONLY)).toBe(false);
    expect(await bm.get(BlockId.test('big'))).toBeUndefined();
    expect(await put(bm, BlockId.test('big2'), [batch], StorageLevel.MEMORY_AND_DISK)).toBe(true);
    expect(bm.memoryStore.contains(BlockId.test('big2'))).toBe(false);
    const result = (await bm.get(BlockId.test('big2')))!;
    expect(result.readMethod).toBe('disk');
    expect(contentOf(await result.toArray())).toEqual(contentOf([batch]));
    await bm.close();
  });

  test.each([MemoryMode.ON_HEAP, MemoryMode.OFF_HEAP])(
    '%s: execution memory takes back cached blocks: to disk under a disk level, gone under memory only',
    async (mode) => {
      // Storage region 0: everything storage holds is borrowed from execution and can be reclaimed.
      const big = storeMemory(20000, 0);
      const bm = blockManager(big);
      const [keep, lose] = [BlockId.rdd(1, 0), BlockId.rdd(2, 0)];
      const keepLevel = mode === MemoryMode.OFF_HEAP ? StorageLevel.OFF_HEAP : StorageLevel.MEMORY_AND_DISK;
      const loseLevel = mode === MemoryMode.OFF_HEAP ? StorageLevel.MEMORY_ONLY_SER.with({ useOffHeap: true }) : StorageLevel.MEMORY_ONLY;
      const keepData = batchList(3, 2000, 5);
      expect(await put(bm, keep, keepData, keepLevel)).toBe(true);
      expect(await put(bm, lose, batchList(3, 2000, 6), loseLevel)).toBe(true);
      expect(bm.memoryStore.memoryModeOf(keep)).toBe(mode);
      const nativeBefore = nativeAllocator.stats().liveBytes;

      // A task asks for all of it.
      expect(await big.acquireExecutionMemory(20000, 0, mode)).toBe(20000);
      expect(bm.memoryStore.blockNames()).toEqual([]);
      expect(bm.getStatus(keep)).toMatchObject({ level: StorageLevel.DISK_ONLY, memSize: 0 });
      expect(bm.getStatus(lose)).toBeUndefined();
      expect(await bm.get(lose)).toBeUndefined();
      if (mode === MemoryMode.OFF_HEAP) expect(nativeAllocator.stats().liveBytes).toBeLessThan(nativeBefore);
      const fromDisk = (await bm.get(keep))!;
      expect(fromDisk.readMethod).toBe('disk');
      expect(contentOf(await fromDisk.toArray())).toEqual(contentOf(keepData));

      // Once execution lets go, a read from disk caches the block back into memory.
      big.releaseAllExecutionMemoryForTask(0);
      expect(contentOf(await (await bm.get(keep))!.toArray())).toEqual(contentOf(keepData));
      expect(bm.memoryStore.contains(keep)).toBe(true);
      expect((await bm.get(keep))!.readMethod).toBe('memory');
      await (await bm.get(keep))!.close();
      await bm.close();
    },
  );

  test.each([StorageLevel.MEMORY_AND_DISK, StorageLevel.MEMORY_AND_DISK_SER, StorageLevel.OFF_HEAP])(
    '%s: readers racing to cache a block back from disk store it once and account it once',
    async (level) => {
      const mm = storeMemory(60000, 0);
      const bm = blockManager(mm);
      const id = BlockId.rdd(11, 0);
      const data = batchList(4, 3000, 17);
      expect(await put(bm, id, data, level)).toBe(true);
      // Execution takes everything, so the block goes to disk; then it lets go again.
      expect(await mm.acquireExecutionMemory(60000, 0, level.memoryMode)).toBe(60000);
      expect(bm.memoryStore.contains(id)).toBe(false);
      mm.releaseAllExecutionMemoryForTask(0);
      for (const task of [1, 2, 3, 4]) bm.registerTask(task);
      const contents = await Promise.all([1, 2, 3, 4].map(async (task) => contentOf(await (await bm.get(id, task))!.toArray())));
      for (const content of contents) expect(content).toEqual(contentOf(data));
      expect(bm.memoryStore.contains(id)).toBe(true);
      expect(mm.storageMemoryUsed).toBe(bm.memoryStore.blocksMemoryUsed);
      expect(bm.memoryStore.blocksMemoryUsed).toBe(bm.memoryStore.getSize(id));
      for (const task of [1, 2, 3, 4]) bm.releaseAllLocksForTask(task);
      await bm.close();
    },
  );

  test('off-heap blocks live in native memory of exactly their size', async () => {
    const bm = blockManager(storeMemory(100000));
    const before = nativeAllocator.stats();
    const id = BlockId.rdd(3, 1);
    expect(await put(bm, id, batchList(4, 5000, 7), StorageLevel.OFF_HEAP)).toBe(true);
    const after = nativeAllocator.stats();
    expect(after.liveBytes - before.liveBytes).toBe(bm.memoryStore.getSize(id));
    // One native block per serialized chunk, moved out of JavaScript as unroll memory covered it.
    expect(after.liveBlocks - before.liveBlocks).toBeGreaterThan(1);
    expect(bm.memoryManager.snapshot().offHeapStorage.used).toBe(bm.memoryStore.getSize(id));
    await bm.close();
    expect(nativeAllocator.stats().liveBytes).toBe(before.liveBytes);
  });

  test('eviction skips a block being read; when only that block would free enough, nothing is evicted', async () => {
    const bm = blockManager(storeMemory(12000));
    const [a, b, c] = ['a', 'b', 'c'].map((n) => BlockId.test(n)) as [BlockId, BlockId, BlockId];
    await put(bm, a, [bytesBatch(4000, 1)], StorageLevel.MEMORY_ONLY);
    await put(bm, b, [bytesBatch(4000, 2)], StorageLevel.MEMORY_ONLY);
    const reading = (await bm.get(a))!; // a is the LRU block, and held by a reader
    expect(await put(bm, c, [bytesBatch(4000, 3)], StorageLevel.MEMORY_ONLY)).toBe(true);
    expect([bm.memoryStore.contains(a), bm.memoryStore.contains(b), bm.memoryStore.contains(c)]).toEqual([true, false, true]);
    // Now a (being read) and c hold memory; c is read too, so nothing may go.
    const readingC = (await bm.get(c))!;
    expect(await put(bm, b, [bytesBatch(4000, 2)], StorageLevel.MEMORY_ONLY)).toBe(false);
    expect([bm.memoryStore.contains(a), bm.memoryStore.contains(c)]).toEqual([true, true]);
    expect(contentOf(await reading.toArray())).toEqual(contentOf([bytesBatch(4000, 1)]));
    await readingC.close();
    await bm.close();
  });

  test('a task that dies holding locks: releaseAllLocksForTask lets others remove and rewrite its blocks', async () => {
    const bm = blockManager(storeMemory(100000));
    const [a, b] = [BlockId.rdd(5, 0), BlockId.rdd(5, 1)];
    await put(bm, a, batchList(2, 100, 1), StorageLevel.MEMORY_ONLY);
    await put(bm, b, batchList(2, 100, 2), StorageLevel.MEMORY_AND_DISK_SER);
    bm.registerTask(7);
    const unread = (await bm.get(a, 7))!;
    await bm.blockInfoManager.lockForWriting(b, 7);
    await expect(bm.removeBlock(a, 8)).rejects.toThrow('not registered');
    bm.registerTask(8);
    const blockedRemove = bm.removeBlock(b, 8);
    await settle();
    expect(bm.getStatus(b)).toBeDefined();
    // The task dies.
    expect(bm.releaseAllLocksForTask(7).map((id) => id.name).sort()).toEqual([a.name, b.name]);
    expect(await blockedRemove).toBe(true);
    expect(await bm.removeBlock(a, 8)).toBe(true);
    await unread.close(); // a result closed after its task ended releases nothing twice
    expect(await put(bm, a, batchList(1, 10, 3), StorageLevel.MEMORY_ONLY, 8)).toBe(true);
    bm.releaseAllLocksForTask(8);
    await bm.close();
  });

  test.each([1, 2, 3, 4])('seed %i: many tasks caching, reading and removing blocks at once always read what was computed', async (seed) => {
    const rng = new Random(seed);
    const bm = blockManager(storeMemory(30000));
    const levels = [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_ONLY_SER, StorageLevel.MEMORY_AND_DISK, StorageLevel.DISK_ONLY, StorageLevel.OFF_HEAP];
    const expected = (split: number): RecordBatch[] => batchList(3, 1500 + 200 * split, 100 + split);
    const computed = new Map<number, number>();
    let mismatches = 0;
    const task = async (t: number): Promise<void> => {
      bm.registerTask(t);
      try {
        for (let step = 0; step < 25; step++) {
          const split = rng.int(6);
          const id = BlockId.rdd(9, split);
          if (rng.bool(0.15)) {
            await bm.removeBlock(id, t);
            continue;
          }
          const level = levels[split % levels.length]!;
          const got = await bm.getOrElseUpdate(
            id,
            level,
            async function* () {
              computed.set(split, (computed.get(split) ?? 0) + 1);
              for (const batch of expected(split)) {
                await settle();
                yield batch;
              }
            },
            { task: t },
          );
          const batches = got.cached ? got.result : got.batches;
          const content: RecordBatch[] = [];
          for await (const batch of batches) {
            content.push(batch);
            if (rng.bool(0.3)) await settle();
          }
          if (JSON.stringify(contentOf(content)) !== JSON.stringify(contentOf(expected(split)))) mismatches += 1;
        }
      } finally {
        bm.releaseAllLocksForTask(t);
      }
    };
    await Promise.all([1, 2, 3, 4, 5, 6].map(task));
    expect(mismatches).toBe(0);
    expect(bm.blockInfoManager.heldLocks()).toEqual([]);
    expect(bm.memoryStore.currentUnrollMemory()).toBe(0);
    // Every byte of storage memory belongs to an entry (close() would hide a leak).
    expect(bm.memoryManager.storageMemoryUsed).toBe(bm.memoryStore.blocksMemoryUsed);
    expect([...computed.values()].every((n) => n >= 1)).toBe(true);
    await bm.close();
  });

  test('getOrElseUpdate computes once for concurrent callers and caches', async () => {
    const bm = blockManager(storeMemory(100000));
    let computations = 0;
    const compute = async function* (): AsyncGenerator<RecordBatch> {
      computations += 1;
      await settle();
      yield* batchList(2, 500, 9);
    };
    for (const t of [1, 2, 3]) bm.registerTask(t);
    const results = await Promise.all(
      [1, 2, 3].map(async (t) => {
        const got = await bm.getOrElseUpdate(BlockId.rdd(4, 0), StorageLevel.MEMORY_ONLY, compute, { task: t });
        expect(got.cached).toBe(true);
        return contentOf(await (got.cached ? got.result.toArray() : collect(got.batches)));
      }),
    );
    expect(computations).toBe(1);
    for (const content of results) expect(content).toEqual(contentOf(batchList(2, 500, 9)));
    for (const t of [1, 2, 3]) expect(bm.releaseAllLocksForTask(t)).toEqual([]);
    expect(bm.takeUpdatedBlockStatuses(1).length + bm.takeUpdatedBlockStatuses(2).length + bm.takeUpdatedBlockStatuses(3).length).toBe(1);
    await bm.close();
  });

  test('corrupt, truncated and deleted block files are typed errors, and leave no lock behind', async () => {
    const bm = blockManager(storeMemory(100000));
    const data = batchList(3, 3000, 11);
    const ids = [BlockId.rdd(6, 0), BlockId.rdd(6, 1), BlockId.rdd(6, 2)] as const;
    for (const id of ids) await put(bm, id, data, StorageLevel.DISK_ONLY);
    const file = (id: BlockId): string => bm.diskBlockManager.getFile(id);

    truncateSync(file(ids[0]), 100);
    const truncated = await bm.get(ids[0]).then((r) => r!.toArray()).catch((e: unknown) => e);
    expect(truncated).toBeInstanceOf(BlockCorruptError);
    expect((truncated as BlockCorruptError).message).toMatch(/has 100 bytes/);

    const bytes = readFileSync(file(ids[1]));
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x40;
    writeFileSync(file(ids[1]), bytes);
    await expect(bm.get(ids[1]).then((r) => r!.toArray())).rejects.toThrow(BlockCorruptError);

    // A byte of the schema message (the first bytes) fails inside apache-arrow, before the
    // checksum can be compared; that is reported as BLOCK_CORRUPT too.
    // Read in 1 KiB chunks, so the first chunk is parsed long before the last is checked.
    const chunked = blockManager(storeMemory(100000), { memoryMapThreshold: 1024, chunkSize: 1024 });
    const early = BlockId.rdd(6, 3);
    await put(chunked, early, data, StorageLevel.DISK_ONLY);
    const earlyBytes = readFileSync(chunked.diskBlockManager.getFile(early));
    earlyBytes.fill(0xff, 8, 40);
    writeFileSync(chunked.diskBlockManager.getFile(early), earlyBytes);
    const parse = await chunked.get(early).then((r) => r!.toArray()).catch((e: unknown) => e);
    expect(parse).toBeInstanceOf(BlockCorruptError);
    expect((parse as Error).message).toMatch(/not an Arrow IPC stream/);
    await chunked.close();

    rmSync(file(ids[2]));
    await expect(bm.get(ids[2])).rejects.toThrow(BlockNotFoundError);
    expect(bm.getStatus(ids[2])).toBeUndefined();

    expect(bm.blockInfoManager.heldLocks()).toEqual([]);
    await bm.close();
  });

  test('reading block files closes them: the open descriptors do not grow with reads', async () => {
    const bm = blockManager(storeMemory(100000), { memoryMapThreshold: 1024, chunkSize: 1024 });
    const ids = [BlockId.rdd(12, 0), BlockId.rdd(12, 1)];
    await put(bm, ids[0]!, batchList(3, 3000, 18), StorageLevel.DISK_ONLY);
    await put(bm, ids[1]!, batchList(3, 3000, 19), StorageLevel.MEMORY_AND_DISK_SER.with({ useMemory: false }));
    const openFiles = (): number => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 10; i++) {
      for (const id of ids) expect(contentOf(await (await bm.get(id))!.toArray())).toHaveLength(3);
      // Stopping after the first batch closes the file too.
      for await (const batch of (await bm.get(ids[0]!))!) {
        expect(batch.numRows).toBe(3000);
        break;
      }
    }
    expect(openFiles()).toBe(before);
    await bm.close();

    // A block too big to cache back: the read that tried hands back the file's rest, open;
    // closing the result unread closes the file.
    const small = blockManager(storeMemory(5000), { memoryMapThreshold: 1024, chunkSize: 1024 });
    const big = BlockId.rdd(12, 2);
    await put(small, big, batchList(40, 300, 20), StorageLevel.MEMORY_AND_DISK);
    const fdsBefore = openFiles();
    for (let i = 0; i < 5; i++) await (await small.get(big))!.close();
    await settle();
    expect(openFiles()).toBe(fdsBefore);
    await small.close();
  });

  test('a put whose input throws leaves no block, lock, memory or file, at every level', async () => {
    const bm = blockManager(storeMemory(8000));
    for (const level of [StorageLevel.DISK_ONLY, StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK, StorageLevel.MEMORY_AND_DISK_SER, StorageLevel.OFF_HEAP]) {
      const id = BlockId.rdd(7, level.toInt());
      async function* failing(): AsyncGenerator<RecordBatch> {
        // Enough to overflow memory first, so the disk path is taken where the level allows.
        yield* batchList(5, 3000, 12);
        throw new Error(`source failed at ${String(level)}`);
      }
      await expect(bm.putIterator(id, failing(), level)).rejects.toThrow('source failed');
      expect(bm.getStatus(id)).toBeUndefined();
      expect(bm.diskStore.contains(id)).toBe(false);
      expect(bm.memoryStore.currentUnrollMemory()).toBe(0);
      expect(bm.memoryManager.storageMemoryUsed).toBe(0);
    }
    await bm.close();
  });

  test('unknown blocks: get is undefined, getOrThrow is BlockNotFoundError, removeBlock is false', async () => {
    const bm = blockManager(storeMemory(1000));
    const id = BlockId.parse('rdd_42_0');
    expect(await bm.get(id)).toBeUndefined();
    await expect(bm.getOrThrow(id)).rejects.toMatchObject({ code: 'BLOCK_NOT_FOUND', message: 'Block rdd_42_0 not found' });
    expect(await bm.removeBlock(id)).toBe(false);
    expect(await bm.getLocalBytes(id)).toBeUndefined();
    await bm.close();
  });

  test('a remote source is asked only when no local store has the block', async () => {
    const asked: string[] = [];
    const remote = {
      async getRemoteValues(id: BlockId) {
        asked.push(id.name);
        return id.name === 'rdd_8_1' ? { batches: collectable(batchList(1, 10, 13)), bytes: 10 } : undefined;
      },
    };
    const bm = blockManager(storeMemory(100000), { remote });
    await put(bm, BlockId.rdd(8, 0), batchList(1, 10, 14), StorageLevel.MEMORY_ONLY);
    expect((await bm.get(BlockId.rdd(8, 0)))!.readMethod).toBe('memory');
    const fromRemote = (await bm.get(BlockId.rdd(8, 1)))!;
    expect(fromRemote.readMethod).toBe('network');
    expect(contentOf(await fromRemote.toArray())).toEqual(contentOf(batchList(1, 10, 13)));
    expect(await bm.get(BlockId.rdd(8, 2))).toBeUndefined();
    expect(asked).toEqual(['rdd_8_1', 'rdd_8_2']);
    await (await bm.get(BlockId.rdd(8, 0)))!.close();
    await bm.close();
  });

  test('putBytes, getLocalBytes, removeRdd and the per-task record of updated blocks', async () => {
    const bm = blockManager(storeMemory(100000));
    bm.registerTask(3);
    const data = batchList(2, 700, 15);
    await put(bm, BlockId.rdd(10, 0), data, StorageLevel.MEMORY_ONLY, 3);
    const bytes = (await bm.getLocalBytes(BlockId.rdd(10, 0), 3))!;
    for (const level of [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_ONLY_SER, StorageLevel.DISK_ONLY, StorageLevel.OFF_HEAP]) {
      const id = BlockId.rdd(10, 1 + level.toInt());
      expect(await bm.putBytes(id, bytes, level, { task: 3 })).toBe(true);
      expect(contentOf(await (await bm.get(id, 3))!.toArray())).toEqual(contentOf(data));
    }
    const updates = bm.takeUpdatedBlockStatuses(3);
    expect(updates.map(([id]) => id.name)).toEqual(['rdd_10_0', 'rdd_10_6', 'rdd_10_5', 'rdd_10_9', 'rdd_10_15']);
    expect(updates[2]![1]).toMatchObject({ level: StorageLevel.MEMORY_ONLY_SER, diskSize: 0 });
    expect(updates[3]![1].diskSize).toBeGreaterThan(0);
    expect(bm.takeUpdatedBlockStatuses(3)).toEqual([]);
    expect(await bm.removeRdd(10)).toBe(5);
    expect(bm.blockInfoManager.size).toBe(0);
    bm.releaseAllLocksForTask(3);
    await bm.close();
  });

  test('serialized blocks are LZ4-compressed by default; compression: none turns it off', async () => {
    const random = batchList(4, 5000, 16); // random bytes do not compress…
    const zeros = [bytesBatchOfZeros(20000)]; // …zeros do
    for (const [compression, expectSmall] of [['lz4', true], ['none', false]] as const) {
      const bm = blockManager(storeMemory(100000), { compression });
      await put(bm, BlockId.test('zeros'), zeros, StorageLevel.DISK_ONLY);
      await put(bm, BlockId.test('random'), random, StorageLevel.DISK_ONLY);
      expect(bm.diskStore.getSize(BlockId.test('random'))).toBeGreaterThan(20000);
      const size = bm.diskStore.getSize(BlockId.test('zeros'));
      expect(size < 5000).toBe(expectSmall);
      expect(contentOf(await (await bm.get(BlockId.test('zeros')))!.toArray())).toEqual(contentOf(zeros));
      await bm.close();
    }
  });
});

describe('BlockManager.fromConfig', () => {
  test("Spark's keys configure it: rdd.compress, storage.unrollMemoryThreshold, local.dir; bad values name the key", async () => {
    const { resolveConfig } = await import('../../src/config/options.js');
    const { scratchDir } = await import('../support/leaks.js');
    const config = resolveConfig({
      'spark.rdd.compress': 'false',
      storage: { unrollMemoryThreshold: '2k', unrollMemoryGrowthFactor: 2 },
      'local.dir': scratchDir,
    });
    const bm = BlockManager.fromConfig(storeMemory(100000), config);
    expect(bm.memoryStore.compression).toBe('none');
    expect(bm.memoryStore.unrollMemoryThreshold).toBe(2048);
    await put(bm, BlockId.test('x'), [bytesBatch(10, 1)], StorageLevel.DISK_ONLY);
    expect(bm.diskStore.contains(BlockId.test('x'))).toBe(true);
    expect(bm.diskBlockManager.getFile('x').startsWith(scratchDir)).toBe(true);
    await bm.close();
    expect(() => resolveConfig({ 'storage.unrollMemoryGrowthFactor': 1 })).toThrow('storage.unrollMemoryGrowthFactor');
    expect(() => resolveConfig({ 'local.dir': [] as string[] })).toThrow('local.dir');
  });
});

function bytesBatchOfZeros(n: number): RecordBatch {
  const batch = bytesBatch(n, 0);
  (batch.getChildAt(0)!.data[0]!.values as Uint8Array).fill(0);
  return batch;
}

async function* collectable<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}
