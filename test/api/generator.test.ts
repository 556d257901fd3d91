import { describe, expect, test } from 'vitest';
import { fillValues, generate } from '../../src/api/generator.js';
import { splitmix64 } from '../support/random.js';

describe('workload generator', () => {
  test('the 32-bit-halves splitmix64 equals the BigInt reference, seed 42 and near 2^53', () => {
    for (const [seed, first] of [
      [42, 0],
      [42, 123_456_789],
      [2 ** 52, 5],
    ] as const) {
      const values = new BigInt64Array(2000);
      fillValues(seed, first, values);
      for (let i = 0; i < values.length; i++) {
        expect(values[i]).toBe(BigInt.asIntN(64, splitmix64(BigInt(seed + first + i))));
      }
    }
  });

  test('every derived column follows its definition, seed 42', () => {
    const value = (i: number): bigint => splitmix64(42n + BigInt(i));
    const [kp] = generate('keyPayload', { rows: 100 });
    const [groups] = generate('groups', { rows: 100, groups: 4_000_000 });
    const [strings] = generate('stringKey', { rows: 100 });
    const [records] = generate('records100', { rows: 100 });
    for (let i = 0; i < 100; i++) {
      const v = value(i);
      const key = BigInt.asIntN(64, v);
      expect(kp!.getChild('key')!.get(i)).toBe(key);
      expect(kp!.getChild('payload')!.get(i)).toBe(BigInt(i));
      const magnitude = key < 0n ? -key : key;
      expect(groups!.getChild('g')!.get(i)).toBe(magnitude % 4_000_000n);
      expect(groups!.getChild('v')!.get(i)).toBe(i % 1000);
      const length = 8 + Number(v % 25n);
      const expected = Array.from({ length }, (_, j) => {
        const r = BigInt((5 * j) % 64);
        const rotated = ((v << r) | (v >> ((64n - r) % 64n))) & ((1n << 64n) - 1n);
        return String.fromCharCode(97 + Number((r === 0n ? v : rotated) % 26n));
      }).join('');
      expect(strings!.getChild('skey')!.get(i)).toBe(expected);
      const keyBytes = records!.getChild('key')!.get(i) as Uint8Array;
      expect(Buffer.from(keyBytes).toString('hex')).toBe(v.toString(16).padStart(16, '0') + (i & 0xffff).toString(16).padStart(4, '0'));
    }
  });
});
