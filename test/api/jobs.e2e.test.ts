/**
 * Jobs end to end through the Dataset API, differential against plain JavaScript references,
 * from ample memory to heavy spilling, with one and two cores (seeds in the names).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dictionary, Float64, Int32, type RecordBatch, RecordBatchFileReader, Table, tableToIPC, Uint64, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, expect, it, vi } from 'vitest';
import { generate, type Session } from '../../src/index.js';
import { addon } from '../../src/native/addon.js';
import { canonical, referenceSort, rowsOf } from '../support/referenceSort.js';
import { referenceAggregate } from '../support/referenceAggregate.js';
import { keyPayloadBatches } from '../shuffle/helpers.js';
import { Random } from '../support/random.js';
import { scratchDir } from '../support/leaks.js';
import { batchOf, randomColumn } from '../support/arrowData.js';
import { expectSortedLike } from '../sort/helpers.js';
import { expectSameGroups, withSession } from './helpers.js';

const MEMORY = [
  ['ample', '64m', undefined],
  ['spilling', '1m', 16 * 1024],
] as const;

/** Result stage layouts: a task per shuffle partition, or neighbouring partitions coalesced
 *  into ranges of at most `advisory` bytes (sizes picked from these inputs' partitions, ~150–
 *  500 KB each, so that ranges hold more than one partition; not fewer ranges than cores
 *  would shrink the target with the core count). */
const LAYOUTS = [
  ['a task per partition', () => ({ 'sql.adaptive.coalescePartitions.enabled': false })],
  [
    'coalesced',
    (advisory: string) => ({
      'sql.adaptive.advisoryPartitionSizeInBytes': advisory,
      'sql.adaptive.coalescePartitions.minPartitionSize': 1024,
      'sql.adaptive.coalescePartitions.parallelismFirst': false,
    }),
  ],
] as const;

/** The result stage's task count of the session's last job. */
function resultTasks(session: Session): number {
  const job = session.lastJob!;
  return job.stages.filter((s) => s.name.startsWith('result')).reduce((sum, s) => sum + s.numTasks, 0);
}

describe('jobs end to end', () => {
  for (const cores of [1, 2]) {
    for (const [label, memory, pageSize] of MEMORY) {
      for (const [layout, layoutOptions] of LAYOUTS) {
        it(`sortBy seed ${31 + cores}, ${label} memory, cores ${cores}, ${layout}: the reference order`, async () => {
          const input = keyPayloadBatches(31 + cores, 60_000, 4000, 1_000_000);
          // Spilling: two big reduce partitions, so that even one core's whole budget is too small.
          const partitions = label === 'spilling' ? 2 : 5;
          const options = { cores, memory, shufflePartitions: partitions, ...layoutOptions(label === 'spilling' ? '1m' : '400k'), ...(pageSize ? { 'buffer.pageSize': pageSize } : {}) };
          await withSession(options, async (session) => {
            const out = await session.fromArrow(new Table(input), { partitions: 4 }).sortBy([{ column: 'key', descending: true }]).collect();
            const key = (rows: string[]): string[] => rows.map((r) => r.split('|')[0]!);
            expect(key(canonical(rowsOf(out.batches)))).toEqual(key(canonical(referenceSort(input, [{ column: 'key', descending: true }]))));
            expect(canonical(rowsOf(out.batches)).sort()).toEqual(canonical(rowsOf(input)).sort());
            const job = session.lastJob!;
            expect(job.totals.shuffleWriteRecords).toBe(60_000);
            expect(job.totals.shuffleReadRecords).toBe(60_000);
            if (label === 'spilling') expect(job.totals.spillCount).toBeGreaterThan(0);
            if (layout === 'coalesced') {
              expect(resultTasks(session)).toBeLessThan(partitions);
              if (label === 'ample') expect(resultTasks(session)).toBeGreaterThan(1);
            } else expect(resultTasks(session)).toBe(partitions);
          });
        });

        it(`groupBy.agg seed ${41 + cores}, ${label} memory, cores ${cores}, ${layout}: the reference groups`, async () => {
          const input = keyPayloadBatches(41 + cores, 40_000, 4000, 20_000);
          await withSession({ cores, memory, shufflePartitions: 3, ...layoutOptions('600k'), ...(pageSize ? { 'buffer.pageSize': pageSize } : {}) }, async (session) => {
            const out = await session.fromArrow(new Table(input), { partitions: 4 }).groupBy('key').agg('count(*)', 'count(payload)', 'min(payload)', 'max(payload)').collect();
            const expected = referenceAggregate(input, ['key'], [{ fn: 'count' }, { fn: 'count', column: 'payload' }, { fn: 'min', column: 'payload' }, { fn: 'max', column: 'payload' }]);
            expectSameGroups(out.batches, expected, 1, 'groupBy key');
            if (label === 'spilling') expect(session.lastJob!.totals.spillCount).toBeGreaterThan(0);
            expect(resultTasks(session)).toBe(layout === 'coalesced' ? 2 : 3);
          });
        });
      }
    }
  }

  it('global aggregation (no keys) of the generator, and count(), across partitions', async () => {
    await withSession({ cores: 2, memory: '64m' }, async (session) => {
      const data = session.generate('groups', { rows: 30_000, groups: 50, batchRows: 4096, partitions: 3 });
      const table = await data.groupBy().agg('count(*)', 'sum(v)', 'min(g)', 'max(g)').collect();
      expect(table.numRows).toBe(1);
      const row = table.get(0)!.toJSON();
      expect(row['count(*)']).toBe(30_000n);
      // v = i mod 1000: 30 full cycles of 0..999.
      expect(row['sum(v)']).toBe(30 * 499_500);
      expect(await data.count()).toBe(30_000);
      const everyThird = (n: number): boolean[] => Array.from({ length: n }, (_, i) => i % 3 === 0);
      let expected = 0;
      for (const [start, end] of [[0, 10_000], [10_000, 20_000], [20_000, 30_000]] as const) {
        for (const batch of generate('groups', { rows: end - start, firstRow: start, groups: 50, batchRows: 4096 })) expected += everyThird(batch.numRows).filter(Boolean).length;
      }
      expect(await data.filter((b) => everyThird(b.numRows)).count()).toBe(expected);
    });
  });

  it('with cores = 2, two tasks run native work at the same time', async () => {
    await withSession({ cores: 2, memory: '256m', shufflePartitions: 2 }, async (session) => {
      addon.workerConcurrencyReset();
      await session.generate('keyPayload', { rows: 400_000, batchRows: 8192, partitions: 2 }).sortBy('key').count();
      expect(addon.workerConcurrency().peak).toBeGreaterThanOrEqual(2);
    });
  });

  it('heartbeats read running tasks\' metrics while their native work runs (every millisecond)', async () => {
    await withSession({ cores: 2, memory: '2m', 'buffer.pageSize': 64 * 1024, 'executor.heartbeatInterval': 1, shufflePartitions: 2 }, async (session) => {
      let beatsWithTasks = 0;
      session.onEvent((e) => {
        if (e.Event === 'ExecutorMetricsUpdate' && e.tasks.length > 0) beatsWithTasks++;
      });
      expect(await session.generate('keyPayload', { rows: 300_000, batchRows: 8192, partitions: 2 }).sortBy('key').count()).toBe(300_000);
      expect(beatsWithTasks).toBeGreaterThan(0);
      expect(session.lastJob!.totals.spillCount).toBeGreaterThan(0);
    });
  });

  it('persist(): a second action reads the cached partitions instead of the source', async () => {
    await withSession({ cores: 2, memory: '64m' }, async (session) => {
      let calls = 0;
      const cached = session.generate('keyPayload', { rows: 10_000, batchRows: 1000, partitions: 2 }).mapBatches((b) => {
        calls++;
        return b;
      }).persist('MEMORY_ONLY');
      expect(await cached.count()).toBe(10_000);
      const after = calls;
      expect(await cached.count()).toBe(10_000);
      expect(calls).toBe(after);
      await cached.unpersist();
      expect(session.blockManager.memoryStore.blocksMemoryUsed).toBe(0);
    });
  });

  it('the sampling job reads 16 spread batches of each split that can seek (table, IPC file, generator), every batch when the stage caches; the sort is exact either way (seed 45)', async () => {
    const input = keyPayloadBatches(45, 40_000, 500, 1_000_000);
    mkdirSync(scratchDir, { recursive: true });
    const path = join(scratchDir, 'spread-45.arrow');
    try {
      await withSession({ cores: 2, memory: '64m', shufflePartitions: 4 }, async (session) => {
        await session.fromArrow(new Table(input)).writeArrow(path);
        const written = RecordBatchFileReader.from(readFileSync(path));
        expect([...written].map((b) => b.numRows)).toEqual(input.map((b) => b.numRows));
        const generated = [...generate('keyPayload', { rows: 40_000, batchRows: 500 })];
        const cases = [
          ['table', session.fromArrow(new Table(input), { partitions: 2 }), input],
          ['IPC file', session.readArrow(path, { partitions: 2 }), input],
          ['generator', session.generate('keyPayload', { rows: 40_000, batchRows: 500, partitions: 2 }), generated],
        ] as const;
        // Equal keys may come in any order: the keys in order, and the rows as a multiset.
        const expectSorted = (out: readonly RecordBatch[], rows: readonly RecordBatch[], what: string): void => {
          const key = (all: string[]): string[] => all.map((r) => r.split('|')[0]!);
          expect(key(canonical(rowsOf(out))), what).toEqual(key(canonical(referenceSort(rows, [{ column: 'key' }]))));
          expect(canonical(rowsOf(out)).sort(), what).toEqual(canonical(rowsOf(rows)).sort());
        };
        for (const [what, data, rows] of cases) {
          expectSorted((await data.sortBy('key').collect()).batches, rows, what);
          // 2 splits of 40 batches of 500 rows: 16 of each read to sample.
          const sampling = session.jobs[session.jobs.length - 2]!;
          expect(sampling.totals.inputRecords, what).toBe(2 * 16 * 500);
          expect(session.lastJob!.totals.inputRecords, what).toBe(40_000);
        }
        const cached = session.fromArrow(new Table(input), { partitions: 2 }).persist('MEMORY_ONLY');
        expectSorted((await cached.sortBy('key').collect()).batches, input, 'cached table');
        expect(session.jobs[session.jobs.length - 2]!.totals.inputRecords).toBe(40_000);
        expect(await cached.count()).toBe(40_000);
        await cached.unpersist();
      });
    } finally {
      rmSync(path, { force: true });
    }
  });

  for (const cores of [1, 2]) {
    it(`a partial aggregation that barely reduces passes its rows through after the probe (seed ${70 + cores}, cores ${cores}): the reference groups, with and without`, async () => {
      const rng = new Random(70 + cores);
      const rows = 1000;
      const input = Array.from({ length: 10 }, () =>
        batchOf([
          { name: 'k', data: randomColumn(rng, 'int32', rows, { nullRate: 0.01, cardinality: 8000 }) },
          { name: 's', data: randomColumn(rng, 'utf8', rows, { nullRate: 0.1, cardinality: 500 }) },
          { name: 'i8', data: randomColumn(rng, 'int8', rows, { nullRate: 0.1, cardinality: 200 }) },
          { name: 'u32', data: randomColumn(rng, 'uint32', rows, { nullRate: 0.1, cardinality: 1000 }) },
          { name: 'f32', data: randomColumn(rng, 'float32', rows, { nullRate: 0.1, cardinality: 1000 }) },
          { name: 'i64', data: randomColumn(rng, 'int64', rows, { nullRate: 0.1, cardinality: 1000 }) },
          { name: 'd', data: randomColumn(rng, 'date32', rows, { nullRate: 0.1, cardinality: 1000 }) },
          { name: 'u64', data: randomColumn(rng, 'uint64', rows, { nullRate: 0.1, cardinality: 10 }) },
        ]),
      );
      const aggregates = ['count(*)', 'count(s)', 'sum(i8)', 'sum(u32)', 'sum(f32)', 'avg(i64)', 'min(s)', 'max(s)', 'min(f32)', 'max(d)'];
      const expected = referenceAggregate(input, ['k'], [
        { fn: 'count' }, { fn: 'count', column: 's' }, { fn: 'sum', column: 'i8' }, { fn: 'sum', column: 'u32' }, { fn: 'sum', column: 'f32' },
        { fn: 'avg', column: 'i64' }, { fn: 'min', column: 's' }, { fn: 'max', column: 's' }, { fn: 'min', column: 'f32' }, { fn: 'max', column: 'd' },
      ]);
      const shuffled: Record<string, number> = {};
      for (const [label, ratio] of [['never', 1], ['after the probe', 0.5]] as const) {
        await withSession({ cores, memory: '64m', shufflePartitions: 3, 'aggregate.skipPartialRatio': ratio, 'aggregate.skipPartialProbeRows': 1000 }, async (session) => {
          const out = await session.fromArrow(new Table(input), { partitions: 4 }).groupBy('k').agg(...aggregates).collect();
          expectSameGroups(out.batches, expected, 1, `skip ${label}`);
          shuffled[label] = session.lastJob!.totals.shuffleWriteRecords;
          expect(session.lastJob!.totals.spillCount).toBe(0);
          // min and max of uint64 pass through as they are.
          const withUint64 = await session.fromArrow(new Table(input), { partitions: 4 }).groupBy('k').agg('count(*)', 'min(u64)', 'max(u64)').collect();
          const expectedUint64 = referenceAggregate(input, ['k'], [{ fn: 'count' }, { fn: 'min', column: 'u64' }, { fn: 'max', column: 'u64' }]);
          expectSameGroups(withUint64.batches, expectedUint64, 1, `min/max of uint64, skip ${label}`);
        });
      }
      // 4 splits of 10 batches of 1,000 rows, the first batch of each aggregated: the other
      // 6,000 rows pass through, one shuffled row each.
      expect(shuffled['after the probe']).toBeGreaterThan(shuffled.never!);
      expect(shuffled['after the probe']).toBeGreaterThanOrEqual(6000);
    });
  }

  for (const cores of [1, 2]) {
    for (const [label, memory, pageSize] of MEMORY) {
      it(`groupBy over an IPC file seed ${75 + cores}, ${label} memory, cores ${cores}: the first batch through JavaScript, the rest inserted natively from the reader; the reference groups`, async () => {
        const rng = new Random(75 + cores);
        const rows = 2000;
        const input = Array.from({ length: 12 }, () =>
          batchOf([
            { name: 'k', data: randomColumn(rng, 'int64', rows, { nullRate: 0.01, cardinality: 3000 }) },
            { name: 'f', data: randomColumn(rng, 'float64', rows, { nullRate: 0, cardinality: 5000 }) },
            { name: 'i', data: randomColumn(rng, 'int32', rows, { nullRate: 0.1, cardinality: 1000 }) },
            { name: 's', data: randomColumn(rng, 'utf8', rows, { nullRate: 0.1, cardinality: 500 }) },
          ]),
        );
        const path = join(scratchDir, `native-input-${cores}-${label}.arrow`);
        mkdirSync(scratchDir, { recursive: true });
        writeFileSync(path, tableToIPC(new Table(input), 'file'));
        const pulls = vi.spyOn(addon, 'aggregatorInsertFromReader');
        try {
          const options = { cores, memory, shufflePartitions: 3, 'aggregate.skipPartialRatio': 1, ...(pageSize ? { 'buffer.pageSize': pageSize } : {}) };
          await withSession(options, async (session) => {
            const aggregates = ['count(*)', 'sum(f)', 'min(f)', 'max(f)', 'sum(i)', 'avg(i)', 'count(s)', 'min(s)', 'max(s)'];
            const out = await session.readArrow(path, { partitions: 2 }).groupBy('k').agg(...aggregates).collect();
            const expected = referenceAggregate(input, ['k'], [
              { fn: 'count' }, { fn: 'sum', column: 'f' }, { fn: 'min', column: 'f' }, { fn: 'max', column: 'f' }, { fn: 'sum', column: 'i' },
              { fn: 'avg', column: 'i' }, { fn: 'count', column: 's' }, { fn: 'min', column: 's' }, { fn: 'max', column: 's' },
            ]);
            expectSameGroups(out.batches, expected, 1, `native input, ${label}`);
            // Every row counted once, whether it came through JavaScript or natively.
            expect(session.lastJob!.totals.inputRecords).toBe(24_000);
            if (label === 'spilling') expect(session.lastJob!.totals.spillCount).toBeGreaterThan(0);
          });
          expect(pulls).toHaveBeenCalled();
        } finally {
          pulls.mockRestore();
          rmSync(path);
        }
      });
    }
  }

  it('rows passed through from filtered (sliced) batches keep their values (seed 74)', async () => {
    const rng = new Random(74);
    const input = Array.from({ length: 8 }, () =>
      batchOf([
        { name: 'k', data: randomColumn(rng, 'int32', 1000, { nullRate: 0.01, cardinality: 5000 }) },
        { name: 'i8', data: randomColumn(rng, 'int8', 1000, { nullRate: 0.1, cardinality: 200 }) },
        { name: 'f32', data: randomColumn(rng, 'float32', 1000, { nullRate: 0.1, cardinality: 1000 }) },
      ]),
    );
    // Rows kept in runs of 1 to 3: filter() hands on slices of each batch, at offsets.
    const keep = input.map((batch) => Array.from({ length: batch.numRows }, (_, i) => i % 5 !== 2 && i % 7 !== 0));
    const kept = input.map((batch, b) => {
      const rows = keep[b]!.flatMap((k, i) => (k ? [i] : []));
      return batchOf(batch.schema.fields.map((field, c) => ({ name: field.name, data: vectorFromArray(rows.map((i) => batch.getChildAt(c)!.get(i)), field.type).data[0]! })));
    });
    const expected = referenceAggregate(kept, ['k'], [{ fn: 'count' }, { fn: 'sum', column: 'i8' }, { fn: 'avg', column: 'f32' }, { fn: 'min', column: 'i8' }]);
    await withSession({ cores: 2, memory: '64m', shufflePartitions: 3, 'aggregate.skipPartialRatio': 0.1, 'aggregate.skipPartialProbeRows': 500 }, async (session) => {
      let b = 0;
      const filtered = session.fromArrow(new Table(input), { partitions: 1 }).filter(() => keep[b++]!);
      const out = await filtered.groupBy('k').agg('count(*)', 'sum(i8)', 'avg(f32)', 'min(i8)').collect();
      expectSameGroups(out.batches, expected, 1, 'filtered, passed through');
      expect(session.lastJob!.totals.shuffleWriteRecords).toBeGreaterThan(expected.length);
    });
  });

  it('a partial aggregation keyed by a dictionary column, or summing uint64, is not passed through and stays exact (seed 73)', async () => {
    const rng = new Random(73);
    const n = 12_000;
    const words = Array.from({ length: n }, () => (rng.int(20) === 0 ? null : `w${rng.int(9000)}`));
    const big = Array.from({ length: n }, () => (rng.int(10) === 0 ? null : BigInt(rng.int(1 << 30))));
    const table = new Table({ w: vectorFromArray(words, new Dictionary(new Utf8(), new Int32())), u: vectorFromArray(big, new Uint64()) });
    const plain = new Table({ w: vectorFromArray(words, new Utf8()), u: vectorFromArray(big, new Uint64()) });
    const expected = referenceAggregate(plain.batches, ['w'], [{ fn: 'count' }, { fn: 'sum', column: 'u' }]);
    await withSession({ cores: 2, memory: '64m', shufflePartitions: 3, 'aggregate.skipPartialRatio': 0.1, 'aggregate.skipPartialProbeRows': 1000 }, async (session) => {
      const out = await session.fromArrow(table, { partitions: 2 }).groupBy('w').agg('count(*)', 'sum(u)').collect();
      expectSameGroups(out.batches, expected, 1, 'dictionary key');
      const plainOut = await session.fromArrow(plain, { partitions: 2 }).groupBy('w').agg('count(*)', 'sum(u)').collect();
      expectSameGroups(plainOut.batches, expected, 1, 'uint64 sum');
      // Aggregated on the map side: fewer rows shuffled than came in.
      expect(session.lastJob!.totals.shuffleWriteRecords).toBeLessThan(n);
    });
  });

  it('sortBy into one partition needs no sampling job; an empty input sorts to an empty table with its schema (seed 44)', async () => {
    await withSession({ cores: 2, memory: '64m', shufflePartitions: 4 }, async (session) => {
      const input = keyPayloadBatches(44, 3000, 500, 100);
      const one = await session.fromArrow(new Table(input)).sortBy('key', { partitions: 1 }).collect();
      expect(canonical(rowsOf(one.batches)).map((r) => r.split('|')[0])).toEqual(canonical(referenceSort(input, [{ column: 'key' }])).map((r) => r.split('|')[0]));
      expect(session.jobs.length).toBe(1);
      const empty = await session.fromArrow(new Table(input)).filter((b) => new Uint8Array(b.numRows)).sortBy('key').collect();
      expect(empty.numRows).toBe(0);
      expect(empty.schema.fields.map((f) => f.name)).toEqual(['key', 'payload']);
      const grouped = await session.fromArrow(new Table(input)).groupBy('key').withPartitions(2).agg('count(*)').collect();
      expect(grouped.numRows).toBe(new Set(rowsOf(input).map((r) => String(r[0]))).size);
    });
  });

  it('a shuffle already written is skipped by the next job', async () => {
    await withSession({ cores: 2, memory: '64m', shufflePartitions: 3 }, async (session) => {
      const grouped = session.generate('groups', { rows: 5000, groups: 10, partitions: 2 }).groupBy('g').agg('count(*)');
      await grouped.count();
      const first = session.lastJob!;
      expect(first.skippedStages).toEqual([]);
      await grouped.collect();
      expect(session.lastJob!.skippedStages.length).toBe(1);
      expect(session.lastJob!.stages.length).toBe(1);
    });
  });
  it('seed 63: a sort\'s and an aggregation\'s output batches are freed as the job consumes them, not at a garbage collection; a user function\'s are not', async () => {
    const settle = async (): Promise<void> => {
      // Detached buffers are freed by a finalizer Node runs as an immediate.
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    const input = keyPayloadBatches(63, 200_000, 8000, 1_000_000);
    await withSession({ cores: 2, memory: '64m', shufflePartitions: 3 }, async (session) => {
      await settle();
      const before = addon.outputBytesLive();
      const sorted = await session.fromArrow(new Table(input), { partitions: 2 }).sortBy([{ column: 'key' }]).collect();
      const grouped = await session.fromArrow(new Table(input), { partitions: 2 }).groupBy('key').agg('count(*)', 'min(payload)').collect();
      await settle();
      // The sort alone output ~3 MB; once the jobs are over none of it may wait for the
      // collector (less than before: the collector may have freed earlier tests' meanwhile).
      expect(addon.outputBytesLive() - before).toBeLessThanOrEqual(0);
      expect(sorted.numRows).toBe(200_000);
      expect(grouped.numRows).toBe(referenceAggregate(input, ['key'], [{ fn: 'count' }]).length);

      // Batches a user function saw are its to keep: they still read after the job.
      const seen: RecordBatch[] = [];
      await session.fromArrow(new Table(input), { partitions: 2 }).sortBy([{ column: 'key' }]).mapBatches((batch) => {
        seen.push(batch);
        return batch;
      }).count();
      expect(seen.reduce((rows, batch) => rows + batch.numRows, 0)).toBe(200_000);
      expect(canonical(rowsOf(seen)).sort()).toEqual(canonical(rowsOf(input)).sort());
    });
  });

  it('repartition seed 64: by keys every key\'s rows land in one partition; round robin spreads them evenly; every row is kept', async () => {
    // Key k has 1000 · 2^k rows, so a partition's row count names the keys it holds (its bits).
    const rng = new Random(64);
    const keys = [0, 1, 2, 3].flatMap((k) => new Array<number>(1000 << k).fill(k));
    for (let i = keys.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    const table = new Table({ key: vectorFromArray(keys, new Int32()), id: vectorFromArray(keys.map((_, i) => i), new Int32()) });
    await withSession({ cores: 2, memory: '64m' }, async (session) => {
      const perPartition = async (run: () => Promise<Table>): Promise<{ counts: number[]; out: Table }> => {
        const counts = new Array<number>(5).fill(0);
        const stop = session.onEvent((event) => {
          if (event.Event === 'TaskEnd' && event.taskType === 'ResultTask') counts[event.taskInfo.index]! += event.metrics.shuffleReadRecords;
        });
        try {
          return { counts, out: await run() };
        } finally {
          stop();
        }
      };
      const byKey = await perPartition(() => session.fromArrow(table, { partitions: 4 }).repartition(5, ['key']).collect());
      const held = byKey.counts.map((count) => count / 1000);
      expect(held.every((bits) => Number.isInteger(bits)), `per partition ${byKey.counts.join(',')}`).toBe(true);
      expect(held.reduce((a, b) => a | b, 0)).toBe(0b1111);
      expect(held.reduce((a, b) => a + b, 0)).toBe(0b1111); // no key split over two partitions
      expect(canonical(rowsOf(byKey.out.batches)).sort()).toEqual(canonical(rowsOf(table.batches)).sort());

      const roundRobin = await perPartition(() => session.fromArrow(table, { partitions: 4 }).repartition(5).collect());
      // Each of the 4 map tasks deals its rows in turn: partitions differ by at most one row a map task.
      expect(Math.max(...roundRobin.counts) - Math.min(...roundRobin.counts)).toBeLessThanOrEqual(4);
      expect(canonical(rowsOf(roundRobin.out.batches)).sort()).toEqual(canonical(rowsOf(table.batches)).sort());
    });
  });

  it('seed 65: a task\'s CPU time is its native workers\' thread time: above zero where an operator ran, within the task\'s run time', async () => {
    const input = keyPayloadBatches(65, 100_000, 5000, 1_000_000);
    // Three result tasks, not coalesced: each of them is checked.
    await withSession({ cores: 2, memory: '64m', shufflePartitions: 3, 'sql.adaptive.coalescePartitions.enabled': false }, async (session) => {
      const ends: { type: string; cpu: number; run: number }[] = [];
      const stop = session.onEvent((event) => {
        if (event.Event === 'JobStart') ends.length = 0; // the sampling job's tasks run no operator
        if (event.Event === 'TaskEnd') ends.push({ type: event.taskType, cpu: event.metrics.executorCpuTimeMs, run: event.metrics.executorRunTimeMs });
      });
      try {
        await session.fromArrow(new Table(input), { partitions: 2 }).sortBy([{ column: 'key' }]).count();
      } finally {
        stop();
      }
      // Map tasks shuffle-sort natively, result tasks sort; each task's native calls run one
      // at a time, so their thread time cannot exceed the task's wall time.
      const tasks = ends;
      expect(tasks.map((t) => t.type).sort()).toEqual(['ResultTask', 'ResultTask', 'ResultTask', 'ShuffleMapTask', 'ShuffleMapTask']);
      for (const { cpu, run } of tasks) {
        expect(cpu).toBeGreaterThan(0);
        expect(cpu).toBeLessThanOrEqual(run + 1);
      }
      expect(session.lastJob!.totals.executorCpuTimeMs).toBeCloseTo(tasks.reduce((sum, t) => sum + t.cpu, 0), 6);
    });
  });

  it('seed 68: decoding shuffle segments natively is the task\'s native work too: reduce tasks that run no operator still have CPU time', async () => {
    const input = keyPayloadBatches(68, 60_000, 5000, 1_000_000);
    await withSession({ cores: 2, memory: '64m' }, async (session) => {
      const results: { cpu: number; run: number }[] = [];
      const stop = session.onEvent((event) => {
        if (event.Event === 'TaskEnd' && event.taskType === 'ResultTask') results.push({ cpu: event.metrics.executorCpuTimeMs, run: event.metrics.executorRunTimeMs });
      });
      try {
        expect(await session.fromArrow(new Table(input), { partitions: 2 }).repartition(3).count()).toBe(60_000);
      } finally {
        stop();
      }
      expect(results).toHaveLength(3);
      for (const { cpu, run } of results) {
        expect(cpu).toBeGreaterThan(0);
        expect(cpu).toBeLessThanOrEqual(run + 1);
      }
    });
  });

  it('sortBy seed 66: a nullable binary key across 5 range partitions (sampled binary values are copies)', async () => {
    const rng = new Random(66);
    const input = Array.from({ length: 6 }, () =>
      batchOf([
        { name: 'b', data: randomColumn(rng, 'binary', 3000, { nullRate: 0.05, cardinality: 2000 }) },
        { name: 'i', data: randomColumn(rng, 'int32', 3000, { nullRate: 0, cardinality: 1_000_000 }) },
      ]),
    );
    await withSession({ cores: 2, memory: '16m', shufflePartitions: 5 }, async (session) => {
      const out = await session.fromArrow(new Table(input), { partitions: 3 }).sortBy([{ column: 'b' }]).collect();
      expectSortedLike(out.batches, input, [{ column: 'b' }]);
    });
  });

  it('sortBy seed 62: a nullable dictionary string key and a float key across 60 partitions, sampled and range-partitioned', async () => {
    const rng = new Random(62);
    const n = 30_000;
    const words = Array.from({ length: n }, () => (rng.int(10) === 0 ? null : `w${rng.int(500).toString().padStart(3, '0')}`));
    const floats = Array.from({ length: n }, () => (rng.int(20) === 0 ? null : rng.int(1000) / 7 - 50));
    const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    const tableOf = (word: Utf8 | Dictionary<Utf8, Int32>): Table =>
      new Table({ word: vectorFromArray(words, word), f: vectorFromArray(floats, new Float64()), id: vectorFromArray(ids) });
    // The engine gets dictionary-encoded words (what tableFromArrays makes of strings); the
    // reference compares the plain strings.
    const table = tableOf(new Dictionary(new Utf8(), new Int32()));
    const keys = [
      { column: 'word', nullsFirst: true },
      { column: 'f', descending: true },
      { column: 'id' },
    ];
    await withSession({ cores: 2, memory: '16m', shufflePartitions: 60 }, async (session) => {
      const out = await session.fromArrow(table, { partitions: 3 }).sortBy(keys).collect();
      expect(canonical(rowsOf(out.batches))).toEqual(canonical(referenceSort(tableOf(new Utf8()).batches, keys)));
    });
  });
});
