/**
 * Sort Benchmark-style records (100 bytes: a 10-byte binary key and 90 bytes of payload) from
 * the project's own generator, sorted under a budget far below the data so that it spills and
 * merges: the output keys must be in order and the multiset of records unchanged (checked by
 * an order-independent checksum of every record).
 */
import { createHash } from 'node:crypto';
import type { RecordBatch } from 'apache-arrow';
import { expect, test } from 'vitest';
import { generate } from '../../src/api/generator.js';
import { sortBatches, task } from './helpers.js';

const MASK = (1n << 64n) - 1n;

/** Sum over records of the first 8 bytes of each record's SHA-256, mod 2^64. */
function checksum(batches: readonly RecordBatch[]): { sum: bigint; count: number } {
  let sum = 0n;
  let count = 0;
  for (const batch of batches) {
    const keys = batch.getChild('key')!;
    const payloads = batch.getChild('payload')!;
    for (let i = 0; i < batch.numRows; i++) {
      const digest = createHash('sha256').update(keys.get(i) as Uint8Array).update(payloads.get(i) as Uint8Array).digest();
      sum = (sum + digest.readBigUInt64LE(0)) & MASK;
      count++;
    }
  }
  return { sum, count };
}

test('records100 seed 42: 200,000 records under a 2 MiB budget come out ordered, none lost or changed', async () => {
  const input = [...generate('records100', { rows: 200_000, batchRows: 10_000 })];
  const { output, metrics } = await sortBatches(task(2 * 1024 * 1024, 64 * 1024), input, { keys: ['key'], compression: 'lz4' });
  expect(metrics.spillCount).toBeGreaterThan(5);
  let previous: Buffer | undefined;
  let ordered = true;
  for (const batch of output) {
    const keys = batch.getChild('key')!;
    for (let i = 0; i < batch.numRows; i++) {
      const key = Buffer.from(keys.get(i) as Uint8Array);
      if (previous && Buffer.compare(previous, key) > 0) ordered = false;
      previous = key;
    }
  }
  expect(ordered).toBe(true);
  expect(checksum(output)).toEqual(checksum(input));
}, 120_000);
