/**
 * Seeded differential tests of the hash aggregation against the JavaScript reference (a Map over
 * stringified keys): random key types and counts (none: a global aggregate), cardinalities from
 * one group to all distinct, null rates, values near the int64 limits, batch sizes, and budgets
 * from ample to "spill every batch", in the three modes; partial → final must equal complete.
 * The seed is in each test's name.
 */
import { makeData, type RecordBatch } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { ArithmeticOverflowError } from '../../src/errors.js';
import { batchOf, randomColumn, TYPE_NAMES, type TypeName, arrowType } from '../support/arrowData.js';
import { Random } from '../support/random.js';
import { type ReferenceAggregate, referenceAggregate } from '../support/referenceAggregate.js';
import { task } from '../sort/helpers.js';
import { aggregateBatches, expectGroupsLike } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SUMMABLE: TypeName[] = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint32', 'uint64', 'float32', 'float64'];

/** Integer values for sums: small, or near the int64 limit (all non-negative, so whether a sum
 *  overflows does not depend on the order of additions). */
function sumColumn(rng: Random, type: 'int64' | 'uint64', n: number, nullRate: number, nearLimit: boolean) {
  const validity = new Uint8Array(Math.ceil(n / 8));
  let nullCount = 0;
  const values = type === 'int64' ? new BigInt64Array(n) : new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    if (rng.bool(nullRate)) nullCount++;
    else validity[i >> 3]! |= 1 << (i & 7);
    const magnitude = nearLimit ? 2n ** 61n + (rng.nextU64() >> 4n) : rng.nextU64() >> 24n;
    values[i] = type === 'int64' && !nearLimit && rng.bool() ? -magnitude : magnitude;
  }
  return makeData({ type: arrowType(type), length: n, nullCount, nullBitmap: nullCount > 0 ? validity : null, data: values } as never);
}

interface Case {
  batches: RecordBatch[];
  keys: string[];
  aggregates: ReferenceAggregate[];
  budget: number;
  pageSize: number;
  batchRows: number;
  compression: 'none' | 'lz4';
  spillEveryBatch: boolean;
  mapTasks: number;
  describe: string;
}

function randomCase(seed: number): Case {
  const rng = new Random(seed);
  const keyCount = rng.pick([0, 1, 1, 1, 2, 3]);
  const keyTypes = Array.from({ length: keyCount }, () => rng.pick(TYPE_NAMES));
  const valueTypes = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(SUMMABLE));
  const nullRate = rng.pick([0, 0, 0.1, 0.6]);
  const rowsPerBatch = rng.pick([1, 13, 400, 2500, 6000]);
  const batchCount = 1 + rng.int(rowsPerBatch === 1 ? 30 : 6);
  // Up to all distinct: twice as many values as rows (a value pool costs time to draw).
  const cardinality = Math.min(rng.pick([1, 4, 300, Infinity]), 2 * rowsPerBatch * batchCount);
  const nearLimit = rng.bool(0.15);
  const batches = Array.from({ length: batchCount }, () =>
    batchOf([
      ...keyTypes.map((type, i) => ({
        name: `k${i}_${type}`,
        data: randomColumn(rng, type, rowsPerBatch, { nullRate, cardinality }),
      })),
      ...valueTypes.map((type, i) => ({
        name: `v${i}_${type}`,
        data:
          type === 'int64' || type === 'uint64'
            ? sumColumn(rng, type, rowsPerBatch, nullRate, nearLimit)
            : randomColumn(rng, type, rowsPerBatch, { nullRate, cardinality: 1000 }),
      })),
    ]),
  );
  const keys = keyTypes.map((type, i) => `k${i}_${type}`);
  const aggregates: ReferenceAggregate[] = [{ fn: 'count' }];
  valueTypes.forEach((type, i) => {
    const column = `v${i}_${type}`;
    for (const fn of ['count', 'sum', 'min', 'max', 'avg'] as const) if (rng.bool(0.6)) aggregates.push({ fn, column });
  });
  // min and max of a key-typed column too: strings, decimals, booleans, binary.
  if (keyCount > 0 && rng.bool()) aggregates.push({ fn: rng.pick(['min', 'max'] as const), column: keys[0]! });
  const budgetKind = rng.pick(['ample', 'tight', 'minimal'] as const);
  return {
    batches,
    keys,
    aggregates,
    budget: budgetKind === 'ample' ? 64 * MiB : budgetKind === 'tight' ? 128 * KiB : 48 * KiB,
    pageSize: budgetKind === 'ample' ? MiB : budgetKind === 'tight' ? 8 * KiB : 4 * KiB,
    spillEveryBatch: budgetKind === 'minimal',
    batchRows: rng.pick([1, 7, 1000, 65_536]),
    compression: rng.pick(['none', 'lz4'] as const),
    mapTasks: 1 + rng.int(3),
    describe: `keys=${keys.join(',') || '(none)'} aggs=${aggregates.map((a) => `${a.fn}(${a.column ?? '*'})`).join(',')} ${batchCount}×${rowsPerBatch} nulls=${nullRate} card=${cardinality} ${budgetKind}${nearLimit ? ' near-limit' : ''}`,
  };
}

const specOf = (a: ReferenceAggregate): string => `${a.fn}(${a.column ?? '*'})`;

describe('HashAggregator against the reference aggregation', () => {
  const seeds = Array.from({ length: 40 }, (_, i) => 2000 + i);
  test.each(seeds)('seed %i', async (seed) => {
    const c = randomCase(seed);
    const expected = referenceAggregate(c.batches, c.keys, c.aggregates);
    const overflows = expected.some((g) => g.values.some((v) => 'overflow' in v));
    const options = {
      groupBy: c.keys,
      aggregates: c.aggregates.map(specOf),
      batchRows: c.batchRows,
      compression: c.compression,
      spillBlockBytes: 4096,
      initialCapacity: 64,
      spillEveryBatch: c.spillEveryBatch,
    };
    const rows = c.batches.reduce((n, b) => n + b.numRows, 0);

    // complete
    const complete = aggregateBatches(task(c.budget, c.pageSize), c.batches, options);
    if (overflows) {
      await expect(complete, c.describe).rejects.toBeInstanceOf(ArithmeticOverflowError);
      return;
    }
    const { output, metrics } = await complete;
    expectGroupsLike(output, expected, c.keys.length, `complete: ${c.describe}`);
    expect(metrics.rowsIn).toBe(rows);
    expect(metrics.groupsOut).toBe(expected.length || (c.keys.length === 0 ? 1 : 0));
    expect(metrics.hashProbesPerRow === 0 || metrics.hashProbesPerRow >= 1).toBe(true);
    if (c.budget === 64 * MiB) expect(metrics.spillCount, c.describe).toBe(0);

    // partial on each of `mapTasks` slices of the batches, then final over all partial output
    const partials: RecordBatch[] = [];
    for (let t = 0; t < c.mapTasks; t++) {
      const slice = c.batches.filter((_, i) => i % c.mapTasks === t);
      if (slice.length === 0) continue;
      const { output: partial } = await aggregateBatches(task(c.budget, c.pageSize), slice, { ...options, mode: 'partial' });
      partials.push(...partial);
    }
    const { output: final } = await aggregateBatches(task(c.budget, c.pageSize), partials, { ...options, mode: 'final' });
    expectGroupsLike(final, expected, c.keys.length, `partial → final: ${c.describe}`);
  });
});
