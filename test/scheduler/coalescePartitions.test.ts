/**
 * The cases of Spark's ShufflePartitionsUtilSuite for one shuffle (its expected layouts, written
 * out as they are there), and a seeded check of the layout's properties on random sizes.
 */
import { describe, expect, it } from 'vitest';
import { coalescePartitions, type PartitionRange } from '../../src/scheduler/coalescePartitions.js';
import { Random } from '../support/random.js';

const ranges = (...pairs: Array<[number, number]>): PartitionRange[] => pairs.map(([start, end]) => ({ start, end }));

/** Spark's test helper: an advisory target size, no minimum partition size unless given. */
function coalesce(sizes: number[], targetSize: number, minNumPartitions = 1, minPartitionBytes = 0): PartitionRange[] {
  return coalescePartitions(sizes, { advisoryPartitionBytes: targetSize, minNumPartitions, minPartitionBytes });
}

describe('coalescePartitions (Spark ShufflePartitionsUtilSuite, one shuffle)', () => {
  it('"1 shuffle": packs neighbours up to the target size', () => {
    expect(coalesce([10, 0, 20, 0, 0], 100)).toEqual(ranges([0, 5]));
    expect(coalesce([10, 0, 90, 20, 0], 100)).toEqual(ranges([0, 3], [3, 5]));
    expect(coalesce([110, 10, 100, 110, 0], 100)).toEqual(ranges([0, 1], [1, 2], [2, 3], [3, 4]));
    // Spark returns "no coalescing" here: one task per partition, which is this layout.
    expect(coalesce([100, 110, 100, 110, 110], 100)).toEqual(ranges([0, 1], [1, 2], [2, 3], [3, 4], [4, 5]));
    expect(coalesce([30, 30, 0, 40, 110], 100)).toEqual(ranges([0, 4], [4, 5]));
  });

  it('"enforce minimal number of coalesced partitions": the target shrinks to total / minNumPartitions', () => {
    expect(coalesce([0, 0, 0, 0, 0], 100, 2)).toEqual(ranges([0, 5]));
    expect(coalesce([300, 0, 0], 100, 2)).toEqual(ranges([0, 1]));
    // Spark's two shuffles summed: [15, 15, 5, 10, 25] with a target of ceil(70 / 2) = 35.
    expect(coalesce([15, 15, 5, 10, 25], 100, 2)).toEqual(ranges([0, 3], [3, 5]));
    // [50, 60, 20, 90, 50]: the target is 100 (270 / 2 is more).
    expect(coalesce([50, 60, 20, 90, 50], 100, 2)).toEqual(ranges([0, 1], [1, 3], [3, 4], [4, 5]));
  });

  it('"do not create partition spec for 0-size partitions"', () => {
    expect(coalesce([0, 0, 0, 0, 0], 100)).toEqual(ranges([0, 5]));
    // Spark's two shuffles summed: [300, 0, 300, 0, 0].
    expect(coalesce([300, 0, 300, 0, 0], 100, 2)).toEqual(ranges([0, 1], [2, 3]));
  });

  it('"minPartitionSize": the target never goes below it', () => {
    expect(coalesce([1000, 500, 2000, 200, 1000], 5000, 20, 2000)).toEqual(ranges([0, 2], [2, 3], [3, 5]));
  });

  it('seed 91: random sizes give contiguous, non-empty, maximal ranges within the target', () => {
    const rng = new Random(91);
    for (let round = 0; round < 200; round++) {
      const n = 1 + rng.int(40);
      const sizes = Array.from({ length: n }, () => (rng.int(4) === 0 ? 0 : rng.int(1000)));
      const minNumPartitions = 1 + rng.int(4);
      const advisory = 1 + rng.int(3000);
      const minBytes = rng.int(500);
      const out = coalesce(sizes, advisory, minNumPartitions, minBytes);
      const total = sizes.reduce((a, b) => a + b, 0);
      const target = Math.max(Math.min(Math.max(Math.ceil(total / minNumPartitions), 16), advisory), minBytes);
      const bytes = (r: PartitionRange): number => sizes.slice(r.start, r.end).reduce((a, b) => a + b, 0);
      if (total === 0) {
        expect(out).toEqual(ranges([0, n]));
        continue;
      }
      for (const [i, range] of out.entries()) {
        expect(range.end).toBeGreaterThan(range.start);
        expect(bytes(range), `round ${round}`).toBeGreaterThan(0);
        if (range.end - range.start > 1) expect(bytes(range)).toBeLessThanOrEqual(target);
        const next = out[i + 1];
        // Only empty partitions lie between ranges, and the next range's first partition
        // would not have fitted.
        if (next) {
          expect(bytes({ start: range.end, end: next.start })).toBe(0);
          expect(bytes({ start: range.start, end: next.start }) + sizes[next.start]!).toBeGreaterThan(target);
        }
      }
      // Every byte is read: ranges cover every non-empty partition.
      expect(out.reduce((sum, r) => sum + bytes(r), 0)).toBe(total);
    }
  });
});
