/**
 * Spark's BytesToBytesMap cases (spark-semantics §3.12, AC-B2B-*) ported to the aggregation,
 * and the aggregation's own contract: result types, nulls, float keys, bad input, errors and
 * spilling on request.
 */
import { existsSync } from 'node:fs';
import {
  Binary,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  type RecordBatch,
  Schema,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { HashAggregator, type HashAggregatorOptions } from '../../src/aggregate/HashAggregator.js';
import {
  ArithmeticOverflowError,
  ClosedError,
  ColumnNotFoundError,
  DiskFullError,
  InvalidArgumentError,
  OutOfMemoryError,
  SchemaMismatchError,
  UnsupportedTypeError,
} from '../../src/errors.js';
import { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { addon } from '../../src/native/addon.js';
import { batchOf, cell, randomColumn } from '../support/arrowData.js';
import { testDiskBlockManager, track } from '../support/leaks.js';
import { Random } from '../support/random.js';
import { referenceAggregate } from '../support/referenceAggregate.js';
import { TestMemoryConsumer } from '../support/TestMemoryConsumer.js';
import { TestMemoryManager } from '../support/TestMemoryManager.js';
import { task } from '../sort/helpers.js';
import { aggregateBatches, expectGroupsLike } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function column(name: string, values: unknown[], type: Int32 | Int64 | Float64 | Utf8 | Binary) {
  return { name, data: vectorFromArray(values as never[], type).data[0]! };
}

function rowsOf(batches: readonly RecordBatch[]): unknown[][] {
  const rows: unknown[][] = [];
  for (const batch of batches) {
    for (let r = 0; r < batch.numRows; r++) rows.push(batch.data.children.map((d) => cell(d, r)));
  }
  return rows;
}

async function aggregate(batches: RecordBatch[], options: Omit<HashAggregatorOptions, 'diskBlockManager'>, budget = 64 * MiB) {
  return aggregateBatches(task(budget, 64 * KiB), batches, options);
}

function bytes(i: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let b = 0; b < length; b++) out[b] = (i * 31 + b * 7) & 0xff;
  return out;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('Spark BytesToBytesMap cases, ported', () => {
  test('AC-B2B-01 an empty aggregation, and the capacity bounds', async () => {
    const schema = new Schema([new Field('k', new Int64(), true), new Field('v', new Int64(), true)]);
    const tmm = task(64 * MiB, 64 * MiB);
    const grouped = await HashAggregator.create(tmm, schema, {
      groupBy: ['k'],
      aggregates: ['count(*)'],
      initialCapacity: 64,
      diskBlockManager: testDiskBlockManager(),
    });
    expect(grouped.inMemory.groups).toBe(0);
    const out: RecordBatch[] = [];
    for await (const batch of grouped.results()) out.push(batch);
    expect(out).toEqual([]);
    for (const initialCapacity of [0, 32, 100, 2 ** 29 + 1, 2 ** 30]) {
      await expect(
        HashAggregator.create(tmm, schema, { groupBy: ['k'], aggregates: ['count(*)'], initialCapacity }),
        String(initialCapacity),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-B2B-02 an 80-byte key with an 80-byte value comes back as it went in', async () => {
    const key = bytes(1, 80);
    const value = bytes(2, 80);
    const batch = batchOf([column('k', [key], new Binary()), column('v', [value], new Binary())]);
    const { output } = await aggregate([batch, batch], { groupBy: ['k'], aggregates: ['count(*)', 'max(v)'] });
    // A second lookup of the same key finds the group: one group, counted twice.
    expect(rowsOf(output)).toEqual([[hex(key), 2n, hex(value)]]);
  });

  test('AC-B2B-03 4096 entries over a 2048-slot table, every 5th key empty, in one 64 MiB page', async () => {
    const key = (i: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(i)]).buffer);
    const keys = Array.from({ length: 4096 }, (_, i) => (i % 5 === 0 ? new Uint8Array(0) : key(i)));
    const values = Array.from({ length: 4096 }, (_, i) => BigInt(i));
    const batch = batchOf([column('k', keys, new Binary()), column('v', values, new Int64())]);
    const tmm = task(256 * MiB, 64 * MiB);
    const aggregator = await HashAggregator.create(tmm, batch.schema, {
      groupBy: ['k'],
      aggregates: ['count(*)', 'min(v)', 'max(v)'],
      initialCapacity: 2048,
      diskBlockManager: testDiskBlockManager(),
    });
    await aggregator.insert(batch);
    expect(aggregator.inMemory.dataPages).toBe(1);
    const out: RecordBatch[] = [];
    for await (const b of aggregator.results()) out.push(b);
    const rows = rowsOf(out);
    expect(rows.reduce((n, r) => n + Number(r[1] as bigint), 0)).toBe(4096);
    const keyOf = key;
    for (const [k, count, min, max] of rows) {
      if (k === '') {
        expect([count, min, max]).toEqual([820n, 0n, 4095n]);
      } else {
        expect(count).toBe(1n);
        expect(k).toBe(hex(keyOf(Number(min as bigint))));
        expect(min).toBe(max);
      }
    }
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-B2B-05 groups larger than the page (1 KiB pages, keys and values up to 127 words), seed 5', async () => {
    const rng = new Random(5);
    const keys = Array.from({ length: 1000 }, (_, i) => {
      const k = bytes(rng.int(1 << 30), 8 * (1 + rng.int(127)));
      k[0] = i & 0xff;
      k[1] = i >> 8;
      return k;
    });
    const values = keys.map(() => bytes(rng.int(1 << 30), 8 * (1 + rng.int(127))));
    const batch = batchOf([column('k', keys, new Binary()), column('v', values, new Binary())]);
    const { output } = await aggregateBatches(task(64 * MiB, KiB), [batch], { groupBy: ['k'], aggregates: ['min(v)'] });
    const expected = new Map(keys.map((k, i) => [hex(k), hex(values[i]!)]));
    const rows = rowsOf(output);
    expect(rows.length).toBe(1000);
    for (const [k, v] of rows) expect(v).toBe(expected.get(k as string));
  });

  test('AC-B2B-06 when not even the first page can be had, insert fails with OUT_OF_MEMORY and leaks nothing', async () => {
    const mm = track(new TestMemoryManager(1024)); // just the 64-slot array
    const tmm = new TaskMemoryManager(mm, 0);
    const batch = batchOf([column('k', [1n], new Int64())]);
    const aggregator = await HashAggregator.create(tmm, batch.schema, {
      groupBy: ['k'],
      aggregates: ['count(*)'],
      initialCapacity: 64,
      diskBlockManager: testDiskBlockManager(),
    });
    const error = await aggregator.insert(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect((error as Error).message).toMatch(/memory/i);
    await aggregator.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-B2B-08 a spill requested while the results are read frees the groups, and every group still comes out, seed 8', async () => {
    const rng = new Random(8);
    const batches = Array.from({ length: 4 }, () =>
      batchOf([
        { name: 'k', data: randomColumn(rng, 'int64', 3000, { nullRate: 0.01, cardinality: 2000 }) },
        { name: 'v', data: randomColumn(rng, 'float64', 3000, { nullRate: 0.1, cardinality: 100 }) },
      ]),
    );
    const tmm = task(4 * MiB, 64 * KiB);
    const aggregator = await HashAggregator.create(tmm, batches[0]!.schema, {
      groupBy: ['k'],
      aggregates: ['count(*)', 'sum(v)', 'max(v)'],
      batchRows: 100,
      diskBlockManager: testDiskBlockManager(),
    });
    for (const batch of batches) await aggregator.insert(batch);
    const other = new TestMemoryConsumer(tmm);
    const output: RecordBatch[] = [];
    let freed = 0;
    for await (const batch of aggregator.results()) {
      output.push(batch);
      if (output.length === 3) {
        freed = await aggregator.spill(1024, other);
        expect(aggregator.inMemory.groups).toBe(0);
        expect(aggregator.spillFiles.length).toBe(1);
      }
    }
    expect(freed).toBeGreaterThanOrEqual(1024);
    const files = aggregator.spillFiles;
    expectGroupsLike(output, referenceAggregate(batches, ['k'], [{ fn: 'count' }, { fn: 'sum', column: 'v' }, { fn: 'max', column: 'v' }]), 1, 'AC-B2B-08');
    expect(files).toEqual([]); // close() after the last batch removed the run
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-B2B-09 a second value for each of 1024 keys: 1024 groups of two', async () => {
    const keys = Array.from({ length: 1024 }, (_, i) => i * 7);
    const first = batchOf([column('k', keys, new Int32()), column('v', keys, new Int32())]);
    const second = batchOf([column('k', keys, new Int32()), column('v', keys.map((k) => k + 1), new Int32())]);
    const { output, metrics } = await aggregate([first, second], { groupBy: ['k'], aggregates: ['count(*)', 'min(v)', 'max(v)'] });
    expect(metrics.groupsOut).toBe(1024);
    expect(rowsOf(output)).toEqual(keys.map((k) => [k, 2n, k, k + 1]));
  });

  test('AC-B2B-10 peak memory rises by one page per page of groups', async () => {
    const tmm = new TaskMemoryManager(track(new TestMemoryManager(Number.MAX_SAFE_INTEGER)), 0);
    const one = (k: number): RecordBatch => batchOf([column('k', [BigInt(k)], new Int64())]);
    const aggregator = await HashAggregator.create(tmm, one(0).schema, {
      groupBy: ['k'],
      aggregates: ['count(*)'],
      initialCapacity: 1024,
      diskBlockManager: testDiskBlockManager(),
    });
    // A group here: u32 length + key (null byte, 8 bytes) + count (null byte, 8 bytes) = 22
    // bytes; a 264-byte page has an 8-byte header, so 11 groups fill one.
    (aggregator as unknown as { pageSize: number }).pageSize = 264;
    const perPage = Math.floor((264 - 8) / 22);
    let peak = aggregator.metrics.peakExecutionMemory;
    for (let i = 0; i < perPage * 10; i++) {
      await aggregator.insert(one(i));
      const now = aggregator.metrics.peakExecutionMemory;
      expect(now - peak, `group ${i}`).toBe(i % perPage === 0 ? 264 : 0);
      peak = now;
    }
    await aggregator.close();
    expect(aggregator.metrics.peakExecutionMemory).toBe(peak);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('results', () => {
  test('result types and nulls: count int64, integer sum int64, float sum and avg float64, min/max as the input', async () => {
    const batch = batchOf([
      column('g', ['a', 'a', 'b', null], new Utf8()),
      column('i', [1, null, null, 5], new Int32()),
      column('f', [1.5, 2.5, null, null], new Float64()),
      column('s', ['x', 'yy', null, 'z'], new Utf8()),
    ]);
    const { output } = await aggregate([batch], {
      groupBy: ['g'],
      aggregates: ['count(*)', 'count(i)', 'sum(i)', 'sum(f)', 'avg(i)', 'avg(f) as mean', 'min(s)', 'max(s)'],
    });
    expect(output[0]!.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'g:Utf8',
      'count(*):Int64',
      'count(i):Int64',
      'sum(i):Int64',
      'sum(f):Float64',
      'avg(i):Float64',
      'mean:Float64',
      'min(s):Utf8',
      'max(s):Utf8',
    ]);
    const text = (s: string): string => Buffer.from(s).toString('hex');
    expect(rowsOf(output)).toEqual([
      [null, 1n, 1n, 5n, null, 5, null, text('z'), text('z')],
      [text('a'), 2n, 1n, 1n, 4, 1, 2, text('x'), text('yy')],
      [text('b'), 1n, 0n, null, null, null, null, null, null],
    ]);
  });

  test('a global aggregation of no rows is one row: count 0, everything else null; grouped, no rows', async () => {
    const schema = new Schema([new Field('k', new Int64(), true), new Field('v', new Float64(), true)]);
    const batch = batchOf([column('k', [], new Int64()), column('v', [], new Float64())]);
    expect(batch.schema.fields.map((f) => f.name)).toEqual(schema.fields.map((f) => f.name));
    const global = await aggregate([batch], { groupBy: [], aggregates: ['count(*)', 'sum(v)', 'min(v)', 'avg(v)'] });
    expect(rowsOf(global.output)).toEqual([[0n, null, null, null]]);
    const partial = await aggregate([batch], { groupBy: [], aggregates: ['count(*)', 'avg(v)'], mode: 'partial' });
    expect(rowsOf(partial.output)).toEqual([[0n, null, 0n]]);
    const grouped = await aggregate([batch], { groupBy: ['k'], aggregates: ['count(*)'] });
    expect(grouped.output).toEqual([]);
  });

  test('empty strings are values, not nulls, also when a batch holds nothing but empty strings', async () => {
    const batch = batchOf([column('k', [1n, 1n, 2n], new Int64()), column('s', ['', '', ''], new Utf8())]);
    const { output: partial } = await aggregate([batch], { groupBy: ['k'], aggregates: ['min(s)', 'max(s)'], mode: 'partial' });
    const { output } = await aggregate(partial, { groupBy: ['k'], aggregates: ['min(s)', 'max(s)'], mode: 'final' });
    expect(rowsOf(output)).toEqual([
      [1n, '', ''],
      [2n, '', ''],
    ]);
  });

  test('float keys: -0 joins +0 and every NaN is one group', async () => {
    const batch = batchOf([column('f', [0, -0, Number.NaN, -Number.NaN, 1, null], new Float64())]);
    const { output } = await aggregate([batch], { groupBy: ['f'], aggregates: ['count(*)'] });
    const rows = rowsOf(output);
    expect(rows.map((r) => r[1])).toEqual([1n, 2n, 1n, 2n]);
    expect(rows[0]![0]).toBeNull();
    expect(Object.is(rows[1]![0], 0)).toBe(true);
    expect(rows[2]![0]).toBe(1);
    expect(Number.isNaN(rows[3]![0])).toBe(true);
  });
});

describe('bad input and errors', () => {
  const schema = new Schema([
    new Field('k', new Int64(), true),
    new Field('s', new Utf8(), true),
    new Field('l', new List(new Field('item', new Int32(), true)), true),
  ]);

  test.each([
    [{ groupBy: ['nope'], aggregates: ['count(*)'] }, ColumnNotFoundError, /"nope"/],
    [{ groupBy: ['k'], aggregates: ['sum(nope)'] }, ColumnNotFoundError, /"nope"/],
    [{ groupBy: ['k'], aggregates: ['sum(s)'] }, UnsupportedTypeError, /"s"/],
    [{ groupBy: ['k'], aggregates: ['avg(s)'] }, UnsupportedTypeError, /"s"/],
    [{ groupBy: ['l'], aggregates: ['count(*)'] }, UnsupportedTypeError, /"l"/],
    [{ groupBy: ['k'], aggregates: ['max(l)'] }, UnsupportedTypeError, /"l"/],
    [{ groupBy: ['k'], aggregates: ['median(k)'] }, InvalidArgumentError, /median/],
    [{ groupBy: ['k'], aggregates: ['sum()'] }, InvalidArgumentError, /column/],
    [{ groupBy: ['k'], aggregates: [{ fn: 'toString', column: 'k' }] }, InvalidArgumentError, /toString/],
    [{ groupBy: ['k'], aggregates: ['count(*)', 'count(*)'] }, InvalidArgumentError, /two columns named "count\(\*\)"/],
    [{ groupBy: ['k'], aggregates: ['count(*)'], mode: 'final' }, ColumnNotFoundError, /"count\(\*\)"/],
    [{ groupBy: ['k'], aggregates: ['count(*)'], mode: 'sideways' }, InvalidArgumentError, /mode/],
  ])('%j is refused before any work', async (options, type, message) => {
    const tmm = task(MiB);
    const error = await HashAggregator.create(tmm, schema, options as HashAggregatorOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('the final mode checks the partial columns’ types', async () => {
    const partialSchema = new Schema([new Field('k', new Int64(), true), new Field('sum(v)', new Utf8(), true)]);
    const error = await HashAggregator.create(task(MiB), partialSchema, { groupBy: ['k'], aggregates: ['sum(v)'], mode: 'final' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SchemaMismatchError);
    expect((error as Error).message).toMatch(/"sum\(v\)"/);
  });

  test('an integer sum that leaves int64 fails with ARITHMETIC_OVERFLOW naming it; close() leaves nothing', async () => {
    const batch = batchOf([column('k', [1n, 1n], new Int64()), column('v', [2n ** 62n, 2n ** 62n], new Int64())]);
    const tmm = task(MiB);
    const aggregator = await HashAggregator.create(tmm, batch.schema, { groupBy: ['k'], aggregates: ['sum(v)'], diskBlockManager: testDiskBlockManager() });
    const error = await aggregator.insert(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArithmeticOverflowError);
    expect((error as Error).message).toMatch(/sum\(v\)/);
    await aggregator.close();
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a batch of another schema, calls after results(), and calls after close() are refused', async () => {
    const batch = batchOf([column('k', [1n], new Int64())]);
    const tmm = task(MiB);
    const aggregator = await HashAggregator.create(tmm, batch.schema, { groupBy: ['k'], aggregates: ['count(*)'], diskBlockManager: testDiskBlockManager() });
    await expect(aggregator.insert(batchOf([column('x', [1], new Int32())]))).rejects.toBeInstanceOf(SchemaMismatchError);
    await aggregator.insert(batch);
    const results = aggregator.results();
    await results.next();
    await expect(aggregator.insert(batch)).rejects.toBeInstanceOf(InvalidArgumentError);
    await results.return(undefined);
    await expect(aggregator.insert(batch)).rejects.toBeInstanceOf(ClosedError);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a full disk during a requested spill fails the asker; nothing is lost or left on disk (seed 31)', async () => {
    const rng = new Random(31);
    const batches = Array.from({ length: 3 }, () =>
      batchOf([{ name: 'k', data: randomColumn(rng, 'int64', 2000, { nullRate: 0, cardinality: 3000 }) }]),
    );
    const tmm = task(4 * MiB, 64 * KiB);
    const aggregator = await HashAggregator.create(tmm, batches[0]!.schema, {
      groupBy: ['k'],
      aggregates: ['count(*)'],
      diskBlockManager: testDiskBlockManager(),
    });
    for (const batch of batches) await aggregator.insert(batch);
    addon.spillInjectDiskFullAfter(100);
    try {
      await expect(aggregator.spill(1, new TestMemoryConsumer(tmm))).rejects.toBeInstanceOf(DiskFullError);
    } finally {
      addon.spillInjectDiskFullAfter(-1);
    }
    expect(aggregator.spillFiles.filter((f) => existsSync(f))).toEqual([]);
    // The groups wait sorted; inserting more puts them back in a new slot array.
    const more = batchOf([{ name: 'k', data: randomColumn(rng, 'int64', 2000, { nullRate: 0.1, cardinality: 3000 }) }]);
    await aggregator.insert(more);
    const output: RecordBatch[] = [];
    for await (const batch of aggregator.results()) output.push(batch);
    expectGroupsLike(output, referenceAggregate([...batches, more], ['k'], [{ fn: 'count' }]), 1, 'after a failed spill');
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('insertAll reads ahead; a failing source or a failing insert rejects it, closes the source, and leaks nothing', async () => {
    const good = batchOf([column('k', [1n, 2n], new Int64())]);
    const bad = batchOf([column('x', [1], new Int32())]);
    let closed = 0;
    async function* source(failAt: number, batch: RecordBatch): AsyncGenerator<RecordBatch> {
      try {
        for (let i = 0; ; i++) {
          if (i === failAt) throw new Error('source failed');
          yield i === 2 ? batch : good;
        }
      } finally {
        closed++;
      }
    }
    const tmm = task(MiB);
    const first = await HashAggregator.create(tmm, good.schema, { groupBy: ['k'], aggregates: ['count(*)'], diskBlockManager: testDiskBlockManager() });
    await expect(first.insertAll(source(3, good))).rejects.toThrow('source failed');
    await first.close();
    const second = await HashAggregator.create(tmm, good.schema, { groupBy: ['k'], aggregates: ['count(*)'], diskBlockManager: testDiskBlockManager() });
    await expect(second.insertAll(source(10, bad))).rejects.toBeInstanceOf(SchemaMismatchError);
    await second.close();
    expect(closed).toBe(2);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a dictionary-encoded key is decoded and grouped by its values', async () => {
    const dictionary = vectorFromArray(['x', 'y', 'x', 'x']);
    const batch = batchOf([{ name: 'd', data: dictionary.data[0]! }]);
    const { output } = await aggregate([batch], { groupBy: ['d'], aggregates: ['count(*)'] });
    const text = (s: string): string => Buffer.from(s).toString('hex');
    expect(rowsOf(output)).toEqual([
      [text('x'), 3n],
      [text('y'), 1n],
    ]);
  });
});
