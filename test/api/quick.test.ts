import { describe, expect, it } from 'vitest';
import { Session } from '../../src/index.js';
import { canonical, referenceSort, rowsOf } from '../support/referenceSort.js';
import { keyPayloadBatches } from '../shuffle/helpers.js';
import { Table } from 'apache-arrow';

describe('quick', () => {
  it('sorts', async () => {
    const session = await Session.create({ cores: 2, memory: '64m', shufflePartitions: 4 });
    try {
      const input = keyPayloadBatches(1, 5000, 500, 1000);
      const out = await session.fromArrow(new Table(input)).sortBy('key').collect();
      expect(canonical(rowsOf(out.batches)).map((r) => r.split('|')[0])).toEqual(canonical(referenceSort(input, [{ column: 'key' }])).map((r) => r.split('|')[0]));
      console.log(session.lastJob);
      const counts = await session.fromArrow(new Table(input)).groupBy('key').agg('count(*)').collect();
      expect(counts.numRows).toBeGreaterThan(100);
      expect(await session.fromArrow(new Table(input)).count()).toBe(5000);
    } finally {
      await session.close();
    }
  });
});
