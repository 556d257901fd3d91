/**
 * Seeded differential tests: random schemas, key types, directions, null and duplicate rates,
 * batch sizes and memory budgets from "no spill" to "spill every batch", with and without
 * compression, against the JavaScript reference sort. The seed is in each test's name.
 */
import type { RecordBatch } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { batchOf, randomColumn, TYPE_NAMES, type TypeName } from '../support/arrowData.js';
import { Random } from '../support/random.js';
import type { ReferenceKey } from '../support/referenceSort.js';
import { expectSortedLike, sortBatches, task } from './helpers.js';

interface Case {
  batches: RecordBatch[];
  keys: ReferenceKey[];
  budget: number;
  pageSize: number;
  compression: 'none' | 'lz4';
  spillBlockBytes: number;
  batchRows: number;
  describe: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

function randomCase(seed: number): Case {
  const rng = new Random(seed);
  const keyCount = 1 + rng.int(3);
  const payloadCount = rng.int(3);
  const columnTypes: TypeName[] = Array.from({ length: keyCount + payloadCount }, () => rng.pick(TYPE_NAMES));
  const nullRate = rng.pick([0, 0, 0.05, 0.5]);
  const rowsPerBatch = rng.pick([1, 17, 500, 3000]);
  const batchCount = 1 + rng.int(rowsPerBatch === 1 ? 40 : 6);
  const cardinalities = columnTypes.map(() => rng.pick([1, 3, 50, 100_000]));
  const batches = Array.from({ length: batchCount }, () =>
    batchOf(
      columnTypes.map((type, i) => ({
        name: `c${i}_${type}`,
        data: randomColumn(rng, type, rowsPerBatch, { nullRate, cardinality: cardinalities[i]! }),
      })),
    ),
  );
  const keys: ReferenceKey[] = Array.from({ length: keyCount }, (_, i) => {
    const descending = rng.bool();
    return { column: `c${i}_${columnTypes[i]}`, descending, nullsFirst: rng.bool() ? !descending : descending };
  });
  // Budgets: ample (no spill), tight (several spills), and minimal (a spill almost every batch).
  const budgetKind = rng.pick(['ample', 'tight', 'minimal'] as const);
  const budget = budgetKind === 'ample' ? 64 * MiB : budgetKind === 'tight' ? 384 * KiB : 160 * KiB;
  const pageSize = budgetKind === 'ample' ? MiB : 16 * KiB;
  return {
    batches,
    keys,
    budget,
    pageSize,
    compression: rng.pick(['none', 'lz4'] as const),
    spillBlockBytes: rng.pick([1024, 4096, 64 * KiB]),
    batchRows: rng.pick([1, 7, 1000, 65_536]),
    describe: `${columnTypes.join(',')} keys=${keys.map((k) => `${k.column}${k.descending ? ' desc' : ''}${k.nullsFirst ? ' nf' : ''}`).join(';')} ${batchCount}×${rowsPerBatch} nulls=${nullRate} ${budgetKind}`,
  };
}

describe('ExternalSorter against the reference sort', () => {
  const seeds = Array.from({ length: 40 }, (_, i) => 1000 + i);
  test.each(seeds)('seed %i', async (seed) => {
    const c = randomCase(seed);
    const { output, metrics } = await sortBatches(task(c.budget, c.pageSize), c.batches, {
      keys: c.keys,
      compression: c.compression,
      spillBlockBytes: c.spillBlockBytes,
      batchRows: c.batchRows,
      initialBufferEntries: 64,
    });
    expectSortedLike(output, c.batches, c.keys);
    expect(output.every((b) => b.numRows <= c.batchRows), c.describe).toBe(true);
    expect(metrics.rows).toBe(c.batches.reduce((n, b) => n + b.numRows, 0));
    if (c.budget === 64 * MiB) expect(metrics.spillCount).toBe(0);
  });
});

describe('forced external paths', () => {
  test('seed 7: spill every batch, many runs, multi-pass merge', async () => {
    const rng = new Random(7);
    const batches = Array.from({ length: 150 }, () =>
      batchOf([
        { name: 'k', data: randomColumn(rng, 'int64', 400, { nullRate: 0.01, cardinality: 100_000 }) },
        { name: 's', data: randomColumn(rng, 'utf8', 400, { nullRate: 0.1, cardinality: 1000 }) },
      ]),
    );
    // 96 KiB holds at most 24 read buffers (blocks are capped at 4 KiB here: a twelfth of the
    // execution pool), fewer than the runs: merged in passes.
    const { output, metrics } = await sortBatches(task(96 * KiB, 16 * KiB), batches, {
      keys: ['k', 's'],
      spillBlockBytes: 8192,
      initialBufferEntries: 64,
    });
    expectSortedLike(output, batches, [{ column: 'k' }, { column: 's' }]);
    expect(metrics.spillCount).toBeGreaterThan(20);
    expect(metrics.mergePasses).toBeGreaterThan(0);
  });

  test('seed 8: string keys with long shared prefixes, descending, lz4', async () => {
    const rng = new Random(8);
    const batches = Array.from({ length: 10 }, () =>
      batchOf([{ name: 's', data: randomColumn(rng, 'largeUtf8', 2000, { nullRate: 0.05, cardinality: 5000 }) }]),
    );
    const keys = [{ column: 's', descending: true }];
    const { output, metrics } = await sortBatches(task(256 * KiB, 16 * KiB), batches, { keys, compression: 'lz4', spillBlockBytes: 8192 });
    expectSortedLike(output, batches, keys);
    expect(metrics.spillCount).toBeGreaterThan(0);
  });
});

describe('sliced batches', () => {
  test.each([51, 52, 53, 54])('seed %i: batches sliced at random bounds sort like their rows', async (seed) => {
    const rng = new Random(seed);
    const types: TypeName[] = ['bool', 'int16', 'utf8', 'largeBinary', 'float64', 'fixed3', 'decimal30'];
    const batches = Array.from({ length: 6 }, () => {
      const full = batchOf(
        types.map((type, i) => ({ name: `c${i}_${type}`, data: randomColumn(rng, type, 700, { nullRate: 0.2, cardinality: 40 }) })),
      );
      // Odd offsets exercise bit offsets in validity and boolean buffers.
      const start = 1 + rng.int(300);
      return full.slice(start, start + 1 + rng.int(350));
    });
    const keys: ReferenceKey[] = [
      { column: 'c0_bool', descending: true },
      { column: 'c2_utf8' },
      { column: 'c1_int16', nullsFirst: false },
    ];
    const { output } = await sortBatches(task(256 * KiB, 16 * KiB), batches, { keys, spillBlockBytes: 2048 });
    expectSortedLike(output, batches, keys);
  });
});
