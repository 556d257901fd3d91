/**
 * Injected faults, cancellation, result routing and limits, schema errors, the event log and
 * the IPC sources and sinks, through the Dataset API.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bool, Dictionary, Float64, Int32, Int64, RecordBatchFileReader, Table, tableFromIPC, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, expect, it, vi } from 'vitest';
import { ColumnNotFoundError, JobCancelledError, JobFailedError, ResultTooLargeError, type SchedulerEvent } from '../../src/index.js';
import { scratchDir } from '../support/leaks.js';
import { canonical, referenceSort, rowsOf } from '../support/referenceSort.js';
import { keyPayloadBatches } from '../shuffle/helpers.js';
import { createIpcWriter } from '../../src/storage/serialization.js';
import { Random } from '../support/random.js';
import { addon } from '../../src/native/addon.js';
import { withSession } from './helpers.js';

/** Descriptors open on `path` itself: counting all of them would also count unrelated ones
 *  that vitest or libuv open and close meanwhile. */
function descriptorsOpenOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd)) === path;
    } catch {
      return false; // closed while listed
    }
  }).length;
}

function filesNamed(pattern: RegExp): string[] {
  return readdirSync(scratchDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && pattern.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

const sortedKeys = (rows: string[]): string[] => rows.map((r) => r.split('|')[0]!);

describe('faults and limits', () => {
  it('a task that throws once succeeds on its retry', async () => {
    await withSession({ cores: 2, memory: '64m' }, async (session) => {
      let thrown = 0;
      const failures: string[] = [];
      session.onEvent((e) => {
        if (e.Event === 'TaskEnd' && e.reason !== 'Success') failures.push(e.reason.kind);
      });
      const count = await session
        .generate('keyPayload', { rows: 10_000, batchRows: 1000, partitions: 3 })
        .mapBatches((batch) => {
          if (thrown === 0) {
            thrown++;
            throw new Error('injected once');
          }
          return batch;
        })
        .count();
      expect(count).toBe(10_000);
      expect(failures).toEqual(['exception']);
    });
  });

  it('a task that always throws fails the job with its error after task.maxFailures (4) attempts', async () => {
    await withSession({ cores: 2, memory: '64m' }, async (session) => {
      const attempts: number[] = [];
      session.onEvent((e) => {
        if (e.Event === 'TaskEnd' && e.reason !== 'Success' && e.taskInfo.index === 1) attempts.push(e.taskInfo.attempt);
      });
      const error = await session
        .generate('keyPayload', { rows: 3000, batchRows: 1000, partitions: 3 })
        .mapBatches((batch) => {
          if (Number(batch.get(0)!.toJSON()['payload']) >= 1000 && Number(batch.get(0)!.toJSON()['payload']) < 2000) throw new RangeError('always broken');
          return batch;
        })
        .count()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobFailedError);
      expect((error as Error).message).toContain('failed 4 times');
      expect(((error as Error).cause as Error).name).toBe('RangeError');
      expect(((error as Error).cause as Error).message).toBe('always broken');
      expect(attempts).toEqual([0, 1, 2, 3]);
    });
  });

  for (const damage of ['deleted', 'corrupted'] as const) {
    it(`a ${damage} shuffle file is a fetch failure: the map stage runs again and the result is right (seed 51)`, async () => {
      const input = keyPayloadBatches(51, 20_000, 2000, 1_000_000);
      await withSession({ cores: 2, memory: '64m', shufflePartitions: 3 }, async (session) => {
        const submitted: string[] = [];
        let damaged = false;
        session.onEvent((e: SchedulerEvent) => {
          if (e.Event === 'StageSubmitted') submitted.push(`${e.name}#${e.attemptId}`);
          if (e.Event === 'StageCompleted' && e.name.includes('map') && !damaged && !e.name.startsWith('sample')) {
            damaged = true;
            const [data] = filesNamed(/^shuffle_.*\.data$/);
            if (damage === 'deleted') rmSync(data!);
            else {
              const bytes = readFileSync(data!);
              bytes[Math.floor(bytes.byteLength / 2)]! ^= 0x5a;
              writeFileSync(data!, bytes);
            }
          }
        });
        const out = await session.fromArrow(new Table(input), { partitions: 2 }).sortBy('key').collect();
        expect(sortedKeys(canonical(rowsOf(out.batches)))).toEqual(sortedKeys(canonical(referenceSort(input, [{ column: 'key' }]))));
        expect(damaged).toBe(true);
        const mapRuns = submitted.filter((s) => s.startsWith('shuffle'));
        expect(mapRuns.length).toBeGreaterThanOrEqual(2);
        expect(submitted.some((s) => s.startsWith('result') && s.endsWith('#1'))).toBe(true);
      });
    });
  }

  it('cancelling a job mid-sort stops its tasks and leaves no task memory and no task files', async () => {
    await withSession({ cores: 2, memory: '4m', 'buffer.pageSize': 64 * 1024, shufflePartitions: 2 }, async (session) => {
      const controller = new AbortController();
      session.onEvent((e) => {
        // Cancel once the sorting (result) stage has tasks running.
        if (e.Event === 'TaskStart' && e.taskInfo.index === 0 && session.jobs.length === 1) setTimeout(() => controller.abort('test cancel'), 5);
      });
      const error = await session
        .generate('keyPayload', { rows: 400_000, batchRows: 8192, partitions: 2 })
        .sortBy('key')
        .count({ signal: controller.signal })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobCancelledError);
      expect(session.memoryManager.executionMemoryUsed).toBe(0);
      // Only the committed shuffle output stays (the session may reuse it) until close().
      expect(filesNamed(/^(?!shuffle_)/)).toEqual([]);
    });
    expect(filesNamed(/./)).toEqual([]);
  });

  it('cancelling an aggregation while native code inserts from its IPC file stops it between calls: no task memory, no task files, the file closed', async () => {
    const path = join(scratchDir, 'cancel-native.arrow');
    mkdirSync(scratchDir, { recursive: true });
    await withSession({ cores: 1, memory: '64m' }, async (session) => {
      await session.generate('groups', { rows: 131_072, groups: 5000, batchRows: 2048 }).writeArrow(path);
    });
    const controller = new AbortController();
    const insertFromReader = addon.aggregatorInsertFromReader.bind(addon);
    // The job is cancelled during the first native insert, which then takes a while to return,
    // so that the kill has landed before the next call: each split has 32 batches, 4 calls' worth.
    const pulls = vi.spyOn(addon, 'aggregatorInsertFromReader').mockImplementation(async (...args) => {
      controller.abort('test cancel');
      const progress = await insertFromReader(...args);
      await new Promise((resolve) => setTimeout(resolve, 30));
      return progress;
    });
    try {
      await withSession({ cores: 2, memory: '64m', shufflePartitions: 2, 'aggregate.skipPartialRatio': 1 }, async (session) => {
        const error = await session
          .readArrow(path, { partitions: 2 })
          .groupBy('g')
          .agg('count(*)', 'sum(v)')
          .count({ signal: controller.signal })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(JobCancelledError);
        expect(pulls.mock.calls.length).toBeGreaterThan(0);
        expect(pulls.mock.calls.length).toBeLessThan(8);
        expect(session.memoryManager.executionMemoryUsed).toBe(0);
        expect(filesNamed(/^(?!shuffle_|cancel-native)/)).toEqual([]);
        expect(descriptorsOpenOn(path)).toBe(0);
      });
    } finally {
      pulls.mockRestore();
      rmSync(path);
    }
  });

  it('an operator that cannot get its first memory fails the task without leaving its source file open', async () => {
    const path = join(scratchDir, 'in.arrow');
    await withSession({ cores: 1, memory: '64m' }, async (session) => {
      await session.fromArrow(new Table(keyPayloadBatches(55, 4000, 500, 1000))).writeArrow(path);
    });
    try {
      // 200 KiB cannot hold the aggregation's first slot array (256 KiB).
      await withSession({ cores: 1, memory: '200k' }, async (session) => {
        const job = session.readArrow(path, { partitions: 2 }).groupBy('key').agg('count(*)').count();
        const error = await job.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(JobFailedError);
        expect(((error as Error).cause as { code?: string }).code).toBe('OUT_OF_MEMORY');
      });
      expect(descriptorsOpenOn(path)).toBe(0);
    } finally {
      rmSync(path);
    }
  });

  it('results above task.maxDirectResultSize come through the block manager, and none is left', async () => {
    await withSession({ cores: 2, memory: '64m', 'task.maxDirectResultSize': 1024 }, async (session) => {
      const input = keyPayloadBatches(52, 5000, 500, 100);
      const out = await session.fromArrow(new Table(input), { partitions: 3 }).collect();
      expect(canonical(rowsOf(out.batches))).toEqual(canonical(rowsOf(input)));
      expect(session.lastJob!.totals.resultSize).toBeGreaterThan(3 * 1024);
      expect(session.blockManager.memoryStore.blocksMemoryUsed).toBe(0);
    });
  });

  it('results larger than storage memory are stored on disk as they are computed, and come back whole (seed 56)', async () => {
    // Result blocks are off-heap storage: they count against the 2 MB native budget.
    await withSession({ cores: 2, memory: '2m' }, async (session) => {
      const diskPut = vi.spyOn(session.blockManager.diskStore, 'put');
      const memoryPut = vi.spyOn(session.blockManager.memoryStore, 'putBytes');
      const input = keyPayloadBatches(56, 300_000, 5000, 100_000);
      const out = await session.fromArrow(new Table(input), { partitions: 3 }).collect();
      // Read once from disk by the driver, never cached back in memory on the way.
      expect(memoryPut.mock.calls.filter(([id]) => id.name.startsWith('taskresult_'))).toEqual([]);
      expect(canonical(rowsOf(out.batches))).toEqual(canonical(rowsOf(input)));
      const resultsOnDisk = diskPut.mock.calls.map(([id]) => id.name).filter((name) => name.startsWith('taskresult_'));
      expect(session.lastJob!.totals.resultSize).toBeGreaterThan(3 * 2 ** 21);
      expect(resultsOnDisk.length).toBe(3);
      expect(session.blockManager.memoryStore.blocksMemoryUsed).toBe(0);
    });
  });

  it("results above driver.maxResultSize fail the job with Spark's message", async () => {
    await withSession({ cores: 2, memory: '64m', 'driver.maxResultSize': 20_000 }, async (session) => {
      const input = keyPayloadBatches(53, 5000, 500, 100);
      const error = await session.fromArrow(new Table(input), { partitions: 3 }).collect().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ResultTooLargeError);
      expect((error as Error).message).toMatch(/^Total size of serialized results of \d+ tasks \(.+\) is bigger than spark\.driver\.maxResultSize \(19\.5 KiB\)$/);
      expect(session.blockManager.memoryStore.blocksMemoryUsed).toBe(0);
    });
  });

  it('an unknown column fails the action before any task runs, naming the column', async () => {
    await withSession({ cores: 1, memory: '64m' }, async (session) => {
      let tasks = 0;
      session.onEvent((e) => {
        if (e.Event === 'TaskStart') tasks++;
      });
      const data = session.generate('keyPayload', { rows: 100 });
      await expect(data.sortBy('nope').collect()).rejects.toThrow(ColumnNotFoundError);
      await expect(data.groupBy('key').agg('sum(missing)').count()).rejects.toThrow(/missing/);
      expect(tasks).toBe(0);
    });
  });

  it('IPC file sources seed 67: decoded natively as apache-arrow decodes them (LZ4 frames of another writer, nulls, every carried type), dictionaries by apache-arrow; a damaged message is IPC_CORRUPT', async () => {
    const rows = 5000;
    const rng = new Random(67);
    const random = (): number => rng.next();
    const maybe = <T>(value: T): T | null => (rng.bool(0.2) ? null : value);
    const withNulls = new Table({
      i32: vectorFromArray(Array.from({ length: rows }, () => Math.floor(random() * 1e6)), new Int32()),
      f64: vectorFromArray(Array.from({ length: rows }, () => random()), new Float64()),
      flag: vectorFromArray(Array.from({ length: rows }, () => maybe(random() < 0.5)), new Bool()),
      text: vectorFromArray(Array.from({ length: rows }, (_, i) => maybe(`v${i % 97}`.repeat(1 + (i % 5)))), new Utf8()),
      big: vectorFromArray(Array.from({ length: rows }, (_, i) => maybe(BigInt(i) * 1_000_000_007n)), new Int64()),
    });
    mkdirSync(scratchDir, { recursive: true });
    const file = join(scratchDir, 'typed.arrow');
    const dictionaryFile = join(scratchDir, 'dictionary.arrow');
    try {
      await withSession({ cores: 2, memory: '64m' }, async (session) => {
        const writer = createIpcWriter('lz4', 'file');
        for (const batch of withNulls.batches) for (const part of [batch.slice(0, 1700), batch.slice(1700)]) writer.write(part);
        writer.finish();
        writeFileSync(file, writer.toUint8Array(true));
        writeFileSync(dictionaryFile, tableToIPC(new Table({ k: vectorFromArray(['a', 'b', 'a', 'c'], new Dictionary(new Utf8(), new Int32())) }), 'file'));
        const read = await session.readArrow(file, { partitions: 2 }).collect();
        expect(canonical(rowsOf(read.batches))).toEqual(canonical(rowsOf(withNulls.batches)));
        expect(await session.readArrow(dictionaryFile).count()).toBe(4);
        // The first batch's metadata overwritten: the flatbuffer's offsets point nowhere.
        const bytes = readFileSync(file);
        const firstBatch = RecordBatchFileReader.from(bytes).open().footer!.getRecordBatch(0)!;
        bytes.fill(0x7f, firstBatch.offset + 8, firstBatch.offset + 24);
        writeFileSync(file, bytes);
        await expect(session.readArrow(file).count()).rejects.toThrow(/IPC message is corrupt/);
      });
    } finally {
      rmSync(file, { force: true });
      rmSync(dictionaryFile, { force: true });
    }
  });

  it('writeArrow (file and stream) and readArrow round-trip, and the event log has one JSON event per line', async () => {
    const log = join(scratchDir, 'events.jsonl');
    await withSession({ cores: 2, memory: '64m', eventLog: log, shufflePartitions: 3 }, async (session) => {
      const input = keyPayloadBatches(54, 6000, 500, 1000);
      const file = join(scratchDir, 'out.arrow');
      const stream = join(scratchDir, 'out.arrows');
      const sorted = session.fromArrow(new Table(input), { partitions: 2 }).sortBy('key');
      expect((await sorted.writeArrow(file)).rows).toBe(6000);
      await sorted.writeArrow(stream, { format: 'stream', compression: 'none' });
      expect(sortedKeys(canonical(rowsOf(tableFromIPC(readFileSync(stream)).batches)))).toEqual(
        sortedKeys(canonical(referenceSort(input, [{ column: 'key' }]))),
      );
      const reread = await session.readArrow(file, { partitions: 3 }).sortBy('key', { ascending: false }).collect();
      expect(sortedKeys(canonical(rowsOf(reread.batches)))).toEqual(sortedKeys(canonical(referenceSort(input, [{ column: 'key', descending: true }]))));
      expect(await session.readArrow(stream).count()).toBe(6000);
      rmSync(file);
      rmSync(stream);
    });
    const events = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { Event: string });
    const kinds = new Set(events.map((e) => e.Event));
    for (const kind of ['ApplicationStart', 'JobStart', 'StageSubmitted', 'TaskStart', 'TaskEnd', 'StageCompleted', 'JobEnd', 'ApplicationEnd']) expect(kinds.has(kind), kind).toBe(true);
    rmSync(log);
  });
});
