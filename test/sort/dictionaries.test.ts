/**
 * Dictionary-encoded input (what tableFromArrays makes of strings) sorts exactly like the same
 * values given plainly: the plain path is checked against the reference sort elsewhere, so the
 * decoded path is compared with it here, sliced batches and nulls included.
 */
import { Dictionary, Int32, Int64, tableFromArrays, Utf8, vectorFromArray, type RecordBatch } from 'apache-arrow';
import { expect, test } from 'vitest';
import { batchOf } from '../support/arrowData.js';
import { Random } from '../support/random.js';
import { rowsOf, canonical } from '../support/referenceSort.js';
import { sortBatches, task } from './helpers.js';

test('dictionary columns sort like their plain values, sliced and with nulls (seed 61)', async () => {
  const rng = new Random(61);
  const n = 5000;
  const words = Array.from({ length: n }, () => (rng.bool(0.1) ? null : `w${rng.int(300)}-${'x'.repeat(rng.int(12))}`));
  const numbers = Array.from({ length: n }, () => (rng.bool(0.1) ? null : BigInt(rng.int(50)) - 25n));
  const encoded = tableFromArrays({ s: words });
  expect(encoded.schema.fields[0]!.type).toBeInstanceOf(Dictionary);
  const numberDictionary = vectorFromArray(numbers, new Dictionary(new Int64(), new Int32()));
  const dictionaryBatch = batchOf([
    { name: 's', data: encoded.getChild('s')!.data[0]! },
    { name: 'n', data: numberDictionary.data[0]! },
  ]);
  const plainBatch = batchOf([
    { name: 's', data: vectorFromArray(words, new Utf8()).data[0]! },
    { name: 'n', data: vectorFromArray(numbers, new Int64()).data[0]! },
  ]);
  const slices = (batch: RecordBatch): RecordBatch[] => [batch.slice(0, 1999), batch.slice(1999, 3001), batch.slice(3001)];
  const keys = [{ column: 's' }, { column: 'n', descending: true }];

  const fromDictionaries = await sortBatches(task(256 * 1024, 16 * 1024), slices(dictionaryBatch), { keys });
  const fromPlain = await sortBatches(task(256 * 1024, 16 * 1024), slices(plainBatch), { keys });
  // Output has the value types, and the same rows in the same key order.
  expect(String(fromDictionaries.output[0]!.schema.fields[0]!.type)).toBe('Utf8');
  expect(String(fromDictionaries.output[0]!.schema.fields[1]!.type)).toBe('Int64');
  expect(canonical(rowsOf(fromDictionaries.output))).toEqual(canonical(rowsOf(fromPlain.output)));
  expect(fromDictionaries.metrics.spillCount).toBeGreaterThan(0);
});
