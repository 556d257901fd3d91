/**
 * Spark's sorter acceptance cases (spark-semantics §3.12, AC-IMS-*, AC-UES-*) ported to this
 * API, the spill-while-reading behaviour, the lifecycle and every error a user can cause.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Binary, Field, Int32, List, RecordBatch, Schema, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import {
  ClosedError,
  ColumnNotFoundError,
  DiskFullError,
  InvalidArgumentError,
  IoError,
  OutOfMemoryError,
  SchemaMismatchError,
  SpillCorruptError,
  TaskKilledError,
  UnsupportedTypeError,
} from '../../src/errors.js';
import { resolveConfig } from '../../src/config/options.js';
import { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { UnifiedMemoryManager } from '../../src/memory/UnifiedMemoryManager.js';
import { addon } from '../../src/native/addon.js';
import { ExternalSorter } from '../../src/sort/ExternalSorter.js';
import { releaseNativeBatch } from '../../src/sort/arrowBatches.js';
import { DiskBlockManager } from '../../src/storage/DiskBlockManager.js';
import { generate } from '../../src/api/generator.js';
import { batchOf, randomColumn } from '../support/arrowData.js';
import { scratchDir, testDiskBlockManager, track } from '../support/leaks.js';
import { Random } from '../support/random.js';
import { TestMemoryConsumer } from '../support/TestMemoryConsumer.js';
import { TestMemoryManager } from '../support/TestMemoryManager.js';
import { expectSortedLike, sortBatches, task } from './helpers.js';

const KiB = 1024;

function ints(values: number[], name = 'v'): RecordBatch {
  const vector = vectorFromArray(values, new Int32());
  return batchOf([{ name, data: vector.data[0]! }]);
}

async function collect(sorter: ExternalSorter): Promise<RecordBatch[]> {
  const out: RecordBatch[] = [];
  for await (const batch of sorter.sortedBatches()) out.push(batch);
  return out;
}

function column(batches: RecordBatch[], index = 0): unknown[] {
  return batches.flatMap((b) => [...b.getChildAt(index)!].map((v) => v as unknown));
}

function testTask(available = Number.MAX_SAFE_INTEGER): { mm: TestMemoryManager; tmm: TaskMemoryManager } {
  const mm = track(new TestMemoryManager(available));
  return { mm, tmm: new TaskMemoryManager(mm, 0) };
}

describe('Spark sorter acceptance cases', () => {
  test('AC-IMS-01 prefix sort: no records, then nine strings', async () => {
    const tmm = task(8 * 1024 * KiB);
    const empty = await ExternalSorter.create(tmm, new Schema([new Field('s', new Utf8(), true)]), { keys: ['s'], diskBlockManager: testDiskBlockManager() });
    expect(await collect(empty)).toEqual([]);
    const words = ['Boba', 'Pearls', 'Tapioca', 'Taho', 'Condensed Milk', 'Jasmine', 'Milk Tea', 'Lychee', 'Mango'];
    const batch = batchOf([{ name: 's', data: vectorFromArray(words, new Utf8()).data[0]! }]);
    const { output } = await sortBatches(tmm, [batch], { keys: ['s'] });
    expect(column(output)).toEqual([...words].sort());
  });

  test('AC-IMS-02 an allocation failure while starting over after a spill, then close twice', async () => {
    const { mm, tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await sorter.insert(ints([3, 1, 2]));
    await sorter.spillAll();
    mm.failNextAcquisitions(Number.POSITIVE_INFINITY);
    // The spill freed the pointer array; getting a new one fails.
    await expect(sorter.insert(ints([4]))).rejects.toThrow(OutOfMemoryError);
    mm.failNextAcquisitions(0);
    await sorter.close();
    await expect(sorter.close()).resolves.toBeUndefined();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-IMS-03 capacity: 1024 initial entries hold 512 records, growth doubles to 4096 longs', async () => {
    const tmm = task(8 * 1024 * KiB, 64 * KiB);
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, {
      keys: ['v'],
      initialBufferEntries: 1024,
      diskBlockManager: testDiskBlockManager(),
    });
    try {
      expect(sorter.inMemory.pointerArrayBytes).toBe(2048 * 8);
      await sorter.insert(ints(Array.from({ length: 512 }, (_, i) => i)));
      expect(sorter.inMemory.pointerArrayBytes).toBe(2048 * 8);
      await sorter.insert(ints([512]));
      expect(sorter.inMemory.pointerArrayBytes).toBe(4096 * 8);
      expect(sorter.inMemory.records).toBe(513);
    } finally {
      await sorter.close();
    }
  });

  test('AC-UES-01 sort across spills', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await sorter.insert(ints([5, 1, 3]));
    await sorter.spillAll();
    await sorter.insert(ints([4]));
    await sorter.spillAll();
    await sorter.insert(ints([2]));
    const files = [...sorter.spillFiles];
    expect(files).toHaveLength(2);
    expect(column(await collect(sorter))).toEqual([1, 2, 3, 4, 5]);
    // The end of the output is cleanup: every spill file is gone.
    expect(files.some((f) => existsSync(f))).toBe(false);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-02 empty values across spills', async () => {
    const { tmm } = testTask();
    const empties = (n: number): RecordBatch =>
      batchOf([{ name: 'b', data: vectorFromArray(Array.from({ length: n }, () => new Uint8Array(0)), new Binary()).data[0]! }]);
    const sorter = await ExternalSorter.create(tmm, empties(1).schema, { keys: ['b'], diskBlockManager: testDiskBlockManager() });
    await sorter.insert(empties(2));
    await sorter.spillAll();
    await sorter.insert(empties(1));
    await sorter.spillAll();
    await sorter.insert(empties(2));
    const values = column(await collect(sorter)) as Uint8Array[];
    expect(values).toHaveLength(5);
    expect(values.every((v) => v.length === 0)).toBe(true);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-03 metrics: sort time and disk bytes spilled', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    expect(sorter.metrics.sortTimeMs).toBe(0);
    expect(sorter.metrics.diskBytesSpilled).toBe(0);
    await sorter.insert(ints(Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 20_000)));
    await sorter.spillAll();
    const afterSpill = sorter.metrics;
    expect(afterSpill.sortTimeMs).toBeGreaterThan(0);
    expect(afterSpill.diskBytesSpilled).toBeGreaterThan(0);
    expect(afterSpill.memoryBytesSpilled).toBeGreaterThan(0);
    expect(afterSpill.spillCount).toBe(1);
    // A spill with nothing in memory changes nothing.
    expect(await sorter.spillAll()).toBe(0);
    expect(sorter.metrics.sortTimeMs).toBe(afterSpill.sortTimeMs);
    expect(sorter.metrics.diskBytesSpilled).toBe(afterSpill.diskBytesSpilled);
    await sorter.insert(ints(Array.from({ length: 20_000 }, (_, i) => i)));
    const iterator = sorter.sortedBatches();
    await iterator.next();
    expect(sorter.metrics.sortTimeMs).toBeGreaterThan(afterSpill.sortTimeMs);
    await iterator.return(undefined);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-04 spill under memory pressure', async () => {
    const { mm, tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    // An int32 row is 9 bytes (length, null bitmap, value): this many fill exactly one page.
    const perPage = Math.floor(tmm.pageSizeBytes / 9);
    await sorter.insert(ints(Array.from({ length: perPage }, (_, i) => perPage - i)));
    expect(sorter.inMemory.dataPages).toBe(1);
    expect(sorter.spillFiles).toHaveLength(0);
    mm.failNextAcquisitions(1);
    await sorter.insert(ints([0]));
    expect(sorter.spillFiles).toHaveLength(1);
    const values = column(await collect(sorter));
    expect(values).toHaveLength(perPage + 1);
    expect(values).toEqual(Array.from({ length: perPage + 1 }, (_, i) => i));
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-07 insertion order without a comparator, across 4 forced spills', async () => {
    const { tmm } = testTask();
    const n = 10_000;
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: [], batchRows: 999, diskBlockManager: testDiskBlockManager() });
    for (let part = 0; part < 4; part++) {
      const from = (part * n) / 4;
      // Values in reverse within each part: a sort would reorder them, insertion order keeps them.
      await sorter.insert(ints(Array.from({ length: n / 4 }, (_, i) => from + n / 4 - 1 - i)));
      await sorter.spillAll();
    }
    expect(sorter.metrics.spillCount).toBe(4);
    const expected = Array.from({ length: 4 }, (_, part) =>
      Array.from({ length: n / 4 }, (_, i) => (part * n) / 4 + n / 4 - 1 - i),
    ).flat();
    const out: RecordBatch[] = [];
    for await (const batch of sorter.batchesInInsertionOrder(0)) out.push(batch);
    expect(column(out)).toEqual(expected);
    await sorter.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-08 batchesInInsertionOrder(startIndex), before and after spills, repeatedly', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: [], batchRows: 37, diskBlockManager: testDiskBlockManager() });
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
    const read = async (start: number): Promise<unknown[]> => {
      const out: RecordBatch[] = [];
      for await (const batch of sorter.batchesInInsertionOrder(start)) out.push(batch);
      return column(out);
    };
    await sorter.insert(ints(range(0, 100)));
    expect(await read(0)).toEqual(range(0, 100));
    expect(await read(79)).toEqual(range(79, 100));
    await sorter.spillAll();
    await sorter.insert(ints(range(100, 200)));
    await sorter.spillAll();
    expect(await read(79)).toEqual(range(79, 200));
    await sorter.insert(ints(range(200, 300)));
    expect(await read(79)).toEqual(range(79, 300));
    expect(await read(139)).toEqual(range(139, 300));
    expect(await read(279)).toEqual(range(279, 300));
    expect(await read(300)).toEqual([]);
    await expect(read(301)).rejects.toThrow('Failed to move the iterator 301 steps forward');
    // A sorter with keys has no insertion-order reading.
    const keyed = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await expect(read.call(null, 0).then(() => keyed.batchesInInsertionOrder(0).next())).rejects.toThrow(/without keys/);
    await keyed.close();
    await sorter.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-09 spill while starved (SPARK-32901)', async () => {
    const { mm, tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await sorter.insert(ints(Array.from({ length: 100 }, (_, i) => i)));
    mm.failNextAcquisitions(Number.POSITIVE_INFINITY);
    expect(await sorter.spillAll()).toBeGreaterThan(0);
    mm.failNextAcquisitions(0);
    await sorter.insert(ints(Array.from({ length: 100 }, (_, i) => 100 + i)));
    expect(sorter.inMemory.pointerArrayBytes).toBeGreaterThan(0);
    expect(column(await collect(sorter))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-UES-10 peak memory rises by one page per page of records', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, {
      keys: ['v'],
      initialBufferEntries: 1024,
      diskBlockManager: testDiskBlockManager(),
    });
    // Spark's case with 256-byte pages: our int32 row is 9 bytes, so 28 rows fill a page.
    (sorter as unknown as { pageSize: number }).pageSize = 256;
    const perPage = Math.floor(256 / 9);
    let peak = sorter.metrics.peakExecutionMemory;
    for (let i = 0; i < perPage * 10; i++) {
      await sorter.insert(ints([i]));
      const now = sorter.metrics.peakExecutionMemory;
      expect(now - peak, `record ${i}`).toBe(i % perPage === 0 ? 256 : 0);
      peak = now;
    }
    await sorter.spillAll();
    expect(sorter.metrics.peakExecutionMemory).toBe(peak);
    for (let i = 0; i < perPage; i++) await sorter.insert(ints([i]));
    expect(sorter.metrics.peakExecutionMemory).toBe(peak);
    await sorter.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('spilling while the output is read (AC-UES-06 semantics)', () => {
  test.each([false, true])('another consumer takes the memory mid-read (earlier spills: %s), seed 21', async (earlierSpill) => {
    const tmm = task(2 * 1024 * KiB, 64 * KiB);
    const rng = new Random(21);
    const batches = Array.from({ length: 8 }, () =>
      batchOf([
        { name: 'k', data: randomColumn(rng, 'int64', 2000, { nullRate: 0.05, cardinality: 100_000 }) },
        { name: 'p', data: randomColumn(rng, 'utf8', 2000, { nullRate: 0, cardinality: 100 }) },
      ]),
    );
    const sorter = await ExternalSorter.create(tmm, batches[0]!.schema, { keys: ['k'], batchRows: 1000, diskBlockManager: testDiskBlockManager() });
    for (const [i, batch] of batches.entries()) {
      await sorter.insert(batch);
      if (earlierSpill && i === 3) await sorter.spillAll();
    }
    const output: RecordBatch[] = [];
    const other = new TestMemoryConsumer(tmm);
    let spillsBefore = 0;
    for await (const batch of sorter.sortedBatches()) {
      output.push(batch);
      if (output.length === 2) {
        spillsBefore = sorter.metrics.spillCount;
        const heldBefore = sorter.used;
        // The other consumer wants nearly everything: the sorter must give its pages back.
        await other.use(2 * 1024 * KiB - 64 * KiB);
        expect(sorter.metrics.spillCount).toBe(spillsBefore + 1);
        expect(sorter.used).toBeLessThan(heldBefore);
        expect(sorter.inMemory.dataPages).toBe(0);
        // A second request finds nothing more in memory to spill.
        expect(await sorter.spill(1, other)).toBe(0);
      }
    }
    expectSortedLike(output, batches, [{ column: 'k' }]);
    other.free(other.used);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('a failed spill while reading', () => {
  test('a full disk during the spill fails the asker; reading goes on and returns every row (seed 22)', async () => {
    const tmm = task(2 * 1024 * KiB, 64 * KiB);
    const rng = new Random(22);
    const batches = Array.from({ length: 6 }, () =>
      batchOf([{ name: 'k', data: randomColumn(rng, 'int64', 2000, { nullRate: 0, cardinality: 100_000 }) }]),
    );
    const sorter = await ExternalSorter.create(tmm, batches[0]!.schema, { keys: ['k'], batchRows: 500, diskBlockManager: testDiskBlockManager() });
    for (const batch of batches) await sorter.insert(batch);
    const output: RecordBatch[] = [];
    const other = new TestMemoryConsumer(tmm);
    for await (const batch of sorter.sortedBatches()) {
      output.push(batch);
      if (output.length === 3) {
        addon.spillInjectDiskFullAfter(100);
        try {
          await expect(other.use(2 * 1024 * KiB - 64 * KiB)).rejects.toThrow(DiskFullError);
        } finally {
          addon.spillInjectDiskFullAfter(-1);
        }
        expect(sorter.spillFiles.every((f) => existsSync(f))).toBe(true);
      }
    }
    expectSortedLike(output, batches, [{ column: 'k' }]);
    other.free(other.used);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('small budgets', () => {
  test('seed 43: with 3 MiB on 2 cores and the other task active, a sorter still merges its runs (spill blocks fit its share of the pool)', async () => {
    // The default page size is 1 MiB here (its floor); spill blocks of a page would need 3 MiB
    // to merge two runs, and this task is only sure of half the pool.
    const mm = track(UnifiedMemoryManager.fromConfig(resolveConfig({ 'memory.offHeap.size': 3 * 2 ** 20, 'executor.cores': 2 })));
    const other = new TestMemoryConsumer(new TaskMemoryManager(mm, 1));
    await other.use(64 * KiB);
    const tmm = new TaskMemoryManager(mm, 2);
    const rng = new Random(43);
    const batches = Array.from({ length: 8 }, () => ints(Array.from({ length: 100_000 }, () => rng.int(1_000_000))));
    const sorter = await ExternalSorter.create(tmm, batches[0]!.schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    for (const batch of batches) await sorter.insert(batch);
    const out = column(await collect(sorter)) as number[];
    expect(sorter.metrics.spillCount).toBeGreaterThanOrEqual(4);
    expect(out).toEqual(batches.flatMap((b) => column([b]) as number[]).sort((a, b) => a - b));
    other.free(other.used);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('lifecycle and errors', () => {
  test('a released output batch frees its native bytes at once and reads as empty; other batches are left alone', async () => {
    const tmm = task(1024 * KiB);
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    const sorter = await ExternalSorter.create(tmm, ints([]).schema, { keys: ['v'] });
    const values = Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 50_000);
    await sorter.insert(ints(values));
    const [output] = await collect(sorter);
    await settle();
    const live = addon.outputBytesLive();
    expect(column([output!]).slice(0, 3)).toEqual([0, 1, 2]);
    const input = ints([5]);
    releaseNativeBatch(input); // not the engine's output: untouched
    expect(column([input])).toEqual([5]);
    releaseNativeBatch(output!);
    releaseNativeBatch(output!); // a second release is a no-op
    await settle();
    // At least the batch's 200,000 bytes (the collector may free earlier garbage meanwhile).
    expect(live - addon.outputBytesLive()).toBeGreaterThanOrEqual(50_000 * 4);
    expect(output!.getChildAt(0)!.data[0]!.values.length).toBe(0);
    expect(() => addon.releaseOutputBuffers([new Uint8Array(4) as never])).toThrow(InvalidArgumentError);
    // An ArrayBuffer JavaScript made is not the addon's to free, even next to one that is.
    const foreign = new ArrayBuffer(8);
    const again = await ExternalSorter.create(tmm, ints([]).schema, { keys: ['v'] });
    await again.insert(ints([3, 1, 2]));
    const [second] = await collect(again);
    const secondValues = second!.getChildAt(0)!.data[0]!.values.buffer as ArrayBuffer;
    expect(() => addon.releaseOutputBuffers([secondValues, foreign])).toThrow(InvalidArgumentError);
    expect(foreign.byteLength).toBe(8);
    expect(column([second!])).toEqual([1, 2, 3]);
    releaseNativeBatch(second!);
    expect(() => addon.releaseOutputBuffers('x' as never)).toThrow(InvalidArgumentError);
  });

  test('an unsupported type is refused before any work, naming the column', async () => {
    const tmm = task(1024 * KiB);
    const schema = new Schema([new Field('ok', new Int32()), new Field('tags', new List(new Field('item', new Int32())))]);
    const error = await ExternalSorter.create(tmm, schema, { keys: ['ok'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedTypeError);
    expect(error).toMatchObject({ code: 'UNSUPPORTED_TYPE', column: 'tags' });
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(0);
  });

  test('a missing key column is refused, listing the columns', async () => {
    const tmm = task(1024 * KiB);
    const error = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['nope'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ColumnNotFoundError);
    expect((error as Error).message).toBe('column "nope" does not exist; the columns are "v"');
  });

  test('a batch of another schema is refused', async () => {
    const tmm = task(1024 * KiB);
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await expect(sorter.insert(ints([1], 'w') as never)).rejects.toThrow(SchemaMismatchError);
    await sorter.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a row larger than all the memory there is fails with OUT_OF_MEMORY and leaves nothing', async () => {
    const tmm = task(256 * KiB, 16 * KiB);
    const huge = batchOf([{ name: 's', data: vectorFromArray(['x'.repeat(512 * KiB)], new Utf8()).data[0]! }]);
    const sorter = await ExternalSorter.create(tmm, huge.schema, { keys: ['s'], diskBlockManager: testDiskBlockManager() });
    const error = await sorter.insert(huge).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect((error as OutOfMemoryError).consumers.some((c) => c.name === sorter.name)).toBe(true);
    await sorter.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a full spill device raises DISK_FULL; close leaves no file and no memory', async () => {
    const tmm = task(192 * KiB, 16 * KiB);
    const rng = new Random(31);
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    addon.spillInjectDiskFullAfter(50 * KiB);
    try {
      let error: unknown;
      for (let i = 0; i < 40 && !error; i++) {
        error = await sorter.insert(ints(Array.from({ length: 5000 }, () => rng.int(1e9)))).catch((e: unknown) => e);
      }
      expect(error).toBeInstanceOf(DiskFullError);
      expect((error as Error).message).toMatch(/no space left on the spill device/);
    } finally {
      addon.spillInjectDiskFullAfter(-1);
      await sorter.close();
    }
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('an unwritable local directory raises IO_ERROR naming it', async () => {
    const tmm = task(128 * KiB, 16 * KiB);
    const blocker = `${scratchDir}-not-a-dir`;
    writeFileSync(blocker, 'a file where a folder should be');
    const dirs = new DiskBlockManager([`${blocker}/spill`]);
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: dirs });
    try {
      const error = await sorter.insert(ints(Array.from({ length: 40_000 }, (_, i) => i))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IoError);
      expect((error as Error).message).toContain(blocker);
    } finally {
      await sorter.close();
      dirs.closeSync();
      (await import('node:fs')).rmSync(blocker);
    }
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a corrupted spill file is detected, never returned as data', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await sorter.insert(ints(Array.from({ length: 10_000 }, (_, i) => i)));
    await sorter.spillAll();
    const [file] = sorter.spillFiles;
    const bytes = readFileSync(file!);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    writeFileSync(file!, bytes);
    await expect(collect(sorter)).rejects.toThrow(SpillCorruptError);
    expect(existsSync(file!)).toBe(false);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('close is idempotent, frees everything, and a closed sorter refuses work', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await sorter.insert(ints([3, 2, 1]));
    await sorter.spillAll();
    await sorter.insert(ints([6, 5]));
    const files = [...sorter.spillFiles];
    await sorter.close();
    await sorter.close();
    expect(sorter.used).toBe(0);
    expect(files.some((f) => existsSync(f))).toBe(false);
    await expect(sorter.insert(ints([1]))).rejects.toThrow(ClosedError);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a task killed while its sorter waits for memory fails with TASK_KILLED; close frees everything', async () => {
    const holder = task(1024 * KiB, 64 * KiB);
    const mm = holder.memoryManager;
    // Another task holds all the memory, so this task waits for its 1/2N share.
    const other = new TestMemoryConsumer(holder);
    await other.use(1024 * KiB);
    const controller = new AbortController();
    const killed = new TaskMemoryManager(mm, 999, { signal: controller.signal });
    const creating = ExternalSorter.create(killed, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
    await new Promise((resolve) => setImmediate(resolve));
    expect(mm.numWaitingTasks('OFF_HEAP')).toBe(1);
    controller.abort(new TaskKilledError('job cancelled'));
    await expect(creating).rejects.toMatchObject({ code: 'TASK_KILLED' });
    expect(killed.cleanUpAllAllocatedMemory()).toBe(0);
    other.free(other.used);
    expect(holder.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('await using disposes the sorter', async () => {
    const { tmm } = testTask();
    {
      await using sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], diskBlockManager: testDiskBlockManager() });
      await sorter.insert(ints([1, 2]));
    }
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(0);
  });

  test('an abandoned output iteration cleans up', async () => {
    const { tmm } = testTask();
    const sorter = await ExternalSorter.create(tmm, ints([1]).schema, { keys: ['v'], batchRows: 10, diskBlockManager: testDiskBlockManager() });
    await sorter.insert(ints(Array.from({ length: 100 }, (_, i) => 100 - i)));
    await sorter.spillAll();
    await sorter.insert(ints(Array.from({ length: 100 }, (_, i) => i)));
    for await (const batch of sorter.sortedBatches()) {
      expect(batch.numRows).toBe(10);
      break;
    }
    expect(sorter.used).toBe(0);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('process exit', () => {
  test('a process that exits without closing its sorter leaves no temporary folder', () => {
    const script = `
      import { createMemoryManager, resolveConfig, TaskMemoryManager, ExternalSorter, DiskBlockManager } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)};
      import { vectorFromArray, Int32, makeData, Field, Schema, Struct, RecordBatch } from 'apache-arrow';
      const data = vectorFromArray(Array.from({ length: 1000 }, (_, i) => 1000 - i), new Int32()).data[0];
      const fields = [new Field('v', new Int32())];
      const batch = new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: 1000, nullCount: 0, children: [data] }));
      const tmm = new TaskMemoryManager(createMemoryManager(resolveConfig({})), 0);
      const dirs = new DiskBlockManager([process.argv[1]]);
      const sorter = await ExternalSorter.create(tmm, batch.schema, { keys: ['v'], diskBlockManager: dirs });
      await sorter.insert(batch);
      await sorter.spillAll();
      process.stdout.write(JSON.stringify(sorter.spillFiles));
      process.exit(0);
    `;
    const dir = `${scratchDir}/exit-test`;
    // The child runs the built package (dist/, which npm install builds), as a user's process would.
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, dir], {
      encoding: 'utf8',
      cwd: new URL('../..', import.meta.url).pathname,
    });
    expect(result.status, result.stderr).toBe(0);
    const files = JSON.parse(result.stdout) as string[];
    expect(files).toHaveLength(1);
    expect(existsSync(files[0]!)).toBe(false);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('concurrency', () => {
  test('the event loop keeps serving timers while a large sort runs (seed 41)', async () => {
    const tmm = task(512 * 1024 * KiB, 16 * 1024 * KiB);
    const batches = [...generate('keyPayload', { rows: 2_000_000, batchRows: 125_000, seed: 41 })];
    let ticks = 0;
    let last = performance.now();
    let longestGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      ticks++;
    }, 1);
    try {
      const { output } = await sortBatches(tmm, batches, { keys: ['key'] });
      expect(output.reduce((n, b) => n + b.numRows, 0)).toBe(2_000_000);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(10);
    // Native work never holds the event loop: no gap comes near the sort's length.
    expect(longestGap).toBeLessThan(250);
  });

  test('sorters of different tasks run at the same time and stay correct (seed 42)', async () => {
    const rng = new Random(42);
    const inputs = [0, 1, 2].map(() =>
      Array.from({ length: 4 }, () =>
        batchOf([
          { name: 'k', data: randomColumn(rng, 'float64', 3000, { nullRate: 0.1, cardinality: 1000 }) },
          { name: 'p', data: randomColumn(rng, 'binary', 3000, { nullRate: 0.1, cardinality: 1000 }) },
        ]),
      ),
    );
    const mm = task(1024 * KiB, 32 * KiB).memoryManager;
    const results = await Promise.all(
      inputs.map((batches, i) => sortBatches(new TaskMemoryManager(mm, 100 + i), batches, { keys: [{ column: 'k', descending: true }] })),
    );
    results.forEach(({ output }, i) => expectSortedLike(output, inputs[i]!, [{ column: 'k', descending: true }]));
  });
});
