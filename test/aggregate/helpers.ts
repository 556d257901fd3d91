import type { RecordBatch } from 'apache-arrow';
import { expect } from 'vitest';
import { HashAggregator, type HashAggregatorOptions } from '../../src/aggregate/HashAggregator.js';
import type { AggregationMetrics } from '../../src/aggregate/HashAggregator.js';
import type { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { type Cell, cell, compareCells } from '../support/arrowData.js';
import { testDiskBlockManager } from '../support/leaks.js';
import { floatMatches, keyString, type ReferenceGroup } from '../support/referenceAggregate.js';

export async function aggregateBatches(
  tmm: TaskMemoryManager,
  batches: readonly RecordBatch[],
  options: Omit<HashAggregatorOptions, 'diskBlockManager'> & { spillEveryBatch?: boolean },
): Promise<{ output: RecordBatch[]; metrics: AggregationMetrics }> {
  const aggregator = await HashAggregator.create(tmm, batches[0]!.schema, { ...options, diskBlockManager: testDiskBlockManager() });
  try {
    for (const batch of batches) {
      await aggregator.insert(batch);
      // As another consumer of the task would ask it to.
      if (options.spillEveryBatch) await aggregator.spill(Number.MAX_SAFE_INTEGER, aggregator);
    }
    const output: RecordBatch[] = [];
    for await (const batch of aggregator.results()) output.push(batch);
    return { output, metrics: aggregator.metrics };
  } finally {
    await aggregator.close();
    expect(tmm.cleanUpAllAllocatedMemory(), 'bytes the aggregation left allocated').toBe(0);
  }
}

/**
 * The output holds exactly the reference's groups with their values, in key order (ascending,
 * nulls first, floats in total order), each group once.
 */
export function expectGroupsLike(output: readonly RecordBatch[], expected: readonly ReferenceGroup[], numKeys: number, what: string): void {
  const rows: { key: Cell[]; values: Cell[] }[] = [];
  for (const batch of output) {
    for (let row = 0; row < batch.numRows; row++) {
      const cells = batch.data.children.map((d) => cell(d, row));
      rows.push({ key: cells.slice(0, numKeys), values: cells.slice(numKeys) });
    }
  }
  expect(rows.length, what).toBe(expected.length);
  const types = output[0]?.schema.fields.map((f) => f.type) ?? [];
  for (let i = 1; i < rows.length; i++) {
    let order = 0;
    for (let k = 0; k < numKeys && order === 0; k++) {
      const a = rows[i - 1]!.key[k]!;
      const b = rows[i]!.key[k]!;
      order = a === null || b === null ? (a === null ? (b === null ? 0 : -1) : 1) : compareCells(a, b, types[k]!);
    }
    expect(order, `${what}: groups out of key order at ${i}`).toBeLessThan(0);
  }
  const byKey = new Map(expected.map((g) => [keyString(g.key), g]));
  for (const row of rows) {
    const group = byKey.get(keyString(row.key));
    expect(group, `${what}: unexpected group ${keyString(row.key)}`).toBeDefined();
    group!.values.forEach((value, a) => {
      const actual = row.values[a]!;
      if ('exact' in value) {
        expect(actual, `${what}: aggregate ${a} of ${keyString(row.key)}`).toEqual(value.exact);
      } else if ('float' in value) {
        expect(typeof actual, `${what}: aggregate ${a} of ${keyString(row.key)}`).toBe('number');
        expect(
          floatMatches(actual as number, value.float, value.tolerance),
          `${what}: aggregate ${a} of ${keyString(row.key)}: ${String(actual)} vs ${value.float}`,
        ).toBe(true);
      } else {
        throw new Error(`${what}: the reference overflowed but the engine returned a result`);
      }
    });
  }
}
