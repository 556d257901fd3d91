import type { RecordBatch } from 'apache-arrow';
import { expect } from 'vitest';
import { resolveConfig } from '../../src/config/options.js';
import { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { UnifiedMemoryManager } from '../../src/memory/UnifiedMemoryManager.js';
import { ExternalSorter, type ExternalSorterOptions, type SorterMetrics } from '../../src/sort/ExternalSorter.js';
import { track, testDiskBlockManager } from '../support/leaks.js';
import { canonical, type ReferenceKey, referenceSort, rowsOf } from '../support/referenceSort.js';

let nextTask = 1;

/** A task with `budget` bytes of off-heap memory (all of it usable by execution) and pages of
 *  `pageSize` bytes. */
export function task(budget: number, pageSize = 64 * 1024): TaskMemoryManager {
  const mm = track(
    UnifiedMemoryManager.fromConfig(
      resolveConfig({ 'memory.offHeap.size': budget, 'buffer.pageSize': pageSize, 'executor.cores': 1 }),
    ),
  );
  return new TaskMemoryManager(mm, nextTask++);
}

export async function sortBatches(
  tmm: TaskMemoryManager,
  batches: readonly RecordBatch[],
  options: Omit<ExternalSorterOptions, 'diskBlockManager'>,
): Promise<{ output: RecordBatch[]; metrics: SorterMetrics }> {
  const sorter = await ExternalSorter.create(tmm, batches[0]!.schema, { ...options, diskBlockManager: testDiskBlockManager() });
  try {
    for (const batch of batches) await sorter.insert(batch);
    const output: RecordBatch[] = [];
    for await (const batch of sorter.sortedBatches()) output.push(batch);
    return { output, metrics: sorter.metrics };
  } finally {
    await sorter.close();
    expect(tmm.cleanUpAllAllocatedMemory(), 'bytes the sorter left allocated').toBe(0);
  }
}

/** The output is sorted as the reference sorts it: keys row by row, whole rows as a multiset. */
export function expectSortedLike(output: readonly RecordBatch[], input: readonly RecordBatch[], keys: readonly ReferenceKey[]): void {
  const expected = referenceSort(input, keys);
  const actual = rowsOf(output);
  expect(actual.length).toBe(expected.length);
  const schema = input[0]!.schema;
  const keyIndexes = keys.map((k) => schema.fields.findIndex((f) => f.name === k.column));
  const project = (rows: typeof actual): string[] => canonical(rows.map((row) => keyIndexes.map((i) => row[i]!)));
  expect(project(actual)).toEqual(project(expected));
  expect(canonical(actual).sort()).toEqual(canonical(expected).sort());
}
