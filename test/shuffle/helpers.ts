import { makeData, RecordBatch, Schema, Field, Int64, Utf8, Struct, vectorFromArray } from 'apache-arrow';
import { Random } from '../support/random.js';

export const keyPayloadSchema = new Schema([new Field('key', new Int64(), true), new Field('payload', new Utf8(), true)]);

/** Batches of (key int64 in [0, keyRange) or null, payload utf8 or null), seeded. */
export function keyPayloadBatches(seed: number, rows: number, batchRows: number, keyRange: number): RecordBatch[] {
  const rng = new Random(seed);
  const batches: RecordBatch[] = [];
  for (let start = 0; start < rows; start += batchRows) {
    const n = Math.min(batchRows, rows - start);
    const keys: (bigint | null)[] = [];
    const payloads: (string | null)[] = [];
    for (let i = 0; i < n; i++) {
      keys.push(rng.bool(0.03) ? null : BigInt(rng.int(keyRange)));
      payloads.push(rng.bool(0.03) ? null : `p${start + i}-${'x'.repeat(rng.int(12))}`);
    }
    const children = [vectorFromArray(keys, new Int64()).data[0]!, vectorFromArray(payloads, new Utf8()).data[0]!];
    const data = makeData({ type: new Struct(keyPayloadSchema.fields), length: n, nullCount: 0, children });
    batches.push(new RecordBatch(keyPayloadSchema, data));
  }
  return batches;
}

export async function* asyncOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}
