/**
 * The canonical workload data of WORKLOADS.md, generated batch by batch, deterministic by seed.
 *
 *   value(i)  = splitmix64(seed + i), an unsigned 64-bit value
 *   key       = value as a signed int64
 *   payload   = i as int64
 *   g         = |key| mod G (int64; |INT64_MIN| taken as 2^63), v = (i mod 1000) as float64
 *   skey      = lowercase ASCII of length 8 + (value mod 25): character j is
 *               'a' + (rotate-left(value, 5·j) mod 26), so the string is a function of value
 *   records100: key = the 8 bytes of value big-endian then i's low 2 bytes big-endian
 *               (FixedSizeBinary(10)); payload = i in decimal, right-aligned in 20 ASCII digits,
 *               then 70 bytes of 'x' (FixedSizeBinary(90))
 *
 * splitmix64 is computed on 32-bit halves (JavaScript numbers), not BigInt, which would take
 * minutes for 50 M rows; test/bench/data.test.ts checks it against a BigInt version.
 */
import {
  Field,
  FixedSizeBinary,
  Float64,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Utf8,
  type Data,
} from 'apache-arrow';

/** 64-bit product mod 2^64 of (ahi:alo) × (bhi:blo), as [hi, lo] unsigned 32-bit halves. */
function mul64(ahi: number, alo: number, bhi: number, blo: number): [number, number] {
  const a0 = alo & 0xffff;
  const a1 = alo >>> 16;
  const b0 = blo & 0xffff;
  const b1 = blo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const carry = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  const hi = (carry + Math.imul(ahi, blo) + Math.imul(alo, bhi)) >>> 0;
  return [hi, lo];
}

function xorShiftRight(hi: number, lo: number, s: number): [number, number] {
  const shiftedLo = ((lo >>> s) | (hi << (32 - s))) >>> 0;
  const shiftedHi = hi >>> s;
  return [(hi ^ shiftedHi) >>> 0, (lo ^ shiftedLo) >>> 0];
}

/** splitmix64(x) for x = (xhi:xlo), as [hi, lo]. */
export function splitmix64Halves(xhi: number, xlo: number): [number, number] {
  // z = x + 0x9e3779b97f4a7c15
  let lo = xlo + 0x7f4a7c15;
  let hi = (xhi + 0x9e3779b9 + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  lo >>>= 0;
  [hi, lo] = xorShiftRight(hi, lo, 30);
  [hi, lo] = mul64(hi, lo, 0xbf58476d, 0x1ce4e5b9);
  [hi, lo] = xorShiftRight(hi, lo, 27);
  [hi, lo] = mul64(hi, lo, 0x94d049bb, 0x133111eb);
  return xorShiftRight(hi, lo, 31);
}

/** Fills `into` (viewed as little-endian pairs of 32-bit words) with value(first .. first+n). */
export function fillValues(seed: number, first: number, into: BigInt64Array): void {
  const words = new Uint32Array(into.buffer, into.byteOffset, into.length * 2);
  for (let i = 0; i < into.length; i++) {
    const x = seed + first + i; // < 2^53: split exactly
    const [hi, lo] = splitmix64Halves(Math.floor(x / 2 ** 32), x >>> 0);
    words[2 * i] = lo;
    words[2 * i + 1] = hi;
  }
}

function struct(fields: Field[], length: number, children: Data[]): RecordBatch {
  return new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length, nullCount: 0, children }));
}

function sequence(first: number, n: number): BigInt64Array {
  const payload = new BigInt64Array(n);
  const words = new Uint32Array(payload.buffer);
  for (let i = 0; i < n; i++) {
    const x = first + i;
    words[2 * i] = x >>> 0;
    words[2 * i + 1] = Math.floor(x / 2 ** 32);
  }
  return payload;
}

export type WorkloadKind = 'keyPayload' | 'stringKey' | 'groups' | 'records100';

export interface GenerateOptions {
  rows: number;
  batchRows?: number;
  seed?: number;
  /** G for the `groups` kind. */
  groups?: number;
  /** The index of the first row (a partition of the data starts here). Default 0. */
  firstRow?: number;
}

/** The generator's batch size unless a source says otherwise. */
export const GENERATOR_BATCH_ROWS = 65_536;

/** The batches of a workload's data, lazily, `batchRows` rows at a time. */
export function* generate(kind: WorkloadKind, options: GenerateOptions): Generator<RecordBatch> {
  const seed = options.seed ?? 42;
  const batchRows = options.batchRows ?? GENERATOR_BATCH_ROWS;
  const end = (options.firstRow ?? 0) + options.rows;
  for (let first = options.firstRow ?? 0; first < end; first += batchRows) {
    const n = Math.min(batchRows, end - first);
    const values = new BigInt64Array(n);
    fillValues(seed, first, values);
    switch (kind) {
      case 'keyPayload':
        yield keyPayload(values, first);
        break;
      case 'stringKey':
        yield stringKey(values, first);
        break;
      case 'groups':
        yield groups(values, first, options.groups ?? 1000);
        break;
      case 'records100':
        yield records100(values, first);
        break;
    }
  }
}

function keyPayload(values: BigInt64Array, first: number): RecordBatch {
  const n = values.length;
  const type = new Int64();
  const fields = [new Field('key', type, false), new Field('payload', type, false)];
  return struct(fields, n, [
    makeData({ type, length: n, nullCount: 0, data: values }),
    makeData({ type, length: n, nullCount: 0, data: sequence(first, n) }),
  ]);
}

function stringKey(values: BigInt64Array, first: number): RecordBatch {
  const n = values.length;
  const words = new Uint32Array(values.buffer);
  const offsets = new Int32Array(n + 1);
  const bytes = new Uint8Array(n * 32);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    // value mod 25 from the halves: (hi · 2^32 + lo) mod 25, exact in doubles.
    const length = 8 + (((hi % 25) * (2 ** 32 % 25) + (lo % 25)) % 25);
    for (let j = 0; j < length; j++) {
      const r = (5 * j) % 64;
      // rotate-left by r, low 32 bits of the result
      const rotatedLo = r === 0 ? lo : r < 32 ? ((lo << r) | (hi >>> (32 - r))) >>> 0 : r === 32 ? hi : ((hi << (r - 32)) | (lo >>> (64 - r))) >>> 0;
      const rotatedHi = r === 0 ? hi : r < 32 ? ((hi << r) | (lo >>> (32 - r))) >>> 0 : r === 32 ? lo : ((lo << (r - 32)) | (hi >>> (64 - r))) >>> 0;
      bytes[at++] = 97 + (((rotatedHi % 26) * (2 ** 32 % 26) + (rotatedLo % 26)) % 26);
    }
    offsets[i + 1] = at;
  }
  const utf8 = new Utf8();
  const int64 = new Int64();
  const fields = [new Field('skey', utf8, false), new Field('payload', int64, false)];
  return struct(fields, n, [
    makeData({ type: utf8, length: n, nullCount: 0, data: bytes.slice(0, at), valueOffsets: offsets }),
    makeData({ type: int64, length: n, nullCount: 0, data: sequence(first, n) }),
  ]);
}

function groups(values: BigInt64Array, first: number, groupCount: number): RecordBatch {
  const n = values.length;
  const words = new Uint32Array(values.buffer);
  const g = new BigInt64Array(n);
  const gWords = new Uint32Array(g.buffer);
  const v = new Float64Array(n);
  const twoTo32ModG = 2 ** 32 % groupCount;
  for (let i = 0; i < n; i++) {
    let lo = words[2 * i]!;
    let hi = words[2 * i + 1]!;
    if (hi >= 0x80000000) {
      // |key| of a negative key: two's complement negation of the 64-bit pattern
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    const mod = ((hi % groupCount) * twoTo32ModG + (lo % groupCount)) % groupCount;
    gWords[2 * i] = mod;
    v[i] = (first + i) % 1000;
  }
  const int64 = new Int64();
  const float64 = new Float64();
  const fields = [new Field('g', int64, false), new Field('v', float64, false)];
  return struct(fields, n, [
    makeData({ type: int64, length: n, nullCount: 0, data: g }),
    makeData({ type: float64, length: n, nullCount: 0, data: v }),
  ]);
}

function records100(values: BigInt64Array, first: number): RecordBatch {
  const n = values.length;
  const words = new Uint32Array(values.buffer);
  const keys = new Uint8Array(n * 10);
  const payloads = new Uint8Array(n * 90).fill(0x78);
  for (let i = 0; i < n; i++) {
    const hi = words[2 * i + 1]!;
    const lo = words[2 * i]!;
    const k = i * 10;
    keys[k] = hi >>> 24;
    keys[k + 1] = (hi >>> 16) & 0xff;
    keys[k + 2] = (hi >>> 8) & 0xff;
    keys[k + 3] = hi & 0xff;
    keys[k + 4] = lo >>> 24;
    keys[k + 5] = (lo >>> 16) & 0xff;
    keys[k + 6] = (lo >>> 8) & 0xff;
    keys[k + 7] = lo & 0xff;
    const index = first + i;
    keys[k + 8] = (index >>> 8) & 0xff;
    keys[k + 9] = index & 0xff;
    const digits = String(index).padStart(20, '0');
    for (let d = 0; d < 20; d++) payloads[i * 90 + d] = digits.charCodeAt(d);
  }
  const keyType = new FixedSizeBinary(10);
  const payloadType = new FixedSizeBinary(90);
  const fields = [new Field('key', keyType, false), new Field('payload', payloadType, false)];
  return struct(fields, n, [
    makeData({ type: keyType, length: n, nullCount: 0, data: keys }),
    makeData({ type: payloadType, length: n, nullCount: 0, data: payloads }),
  ]);
}
