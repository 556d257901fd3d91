/**
 * Random Arrow columns of every type the sorter supports, with chosen null and duplicate
 * rates, built straight from typed arrays; and a reader of raw cell values for oracles.
 */
import {
  Binary,
  Bool,
  type Data,
  DateDay,
  DateMillisecond,
  Decimal,
  type DataType,
  Field,
  FixedSizeBinary,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  LargeBinary,
  LargeUtf8,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  TimestampMicrosecond,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
  Type,
} from 'apache-arrow';
import type { Random } from './random.js';

export const TYPE_NAMES = [
  'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64', 'bool',
  'date32', 'date64', 'timestamp', 'decimal10', 'decimal30', 'utf8', 'largeUtf8', 'binary', 'largeBinary',
  'fixed3', 'fixed12',
] as const;
export type TypeName = (typeof TYPE_NAMES)[number];

export function arrowType(name: TypeName): DataType {
  switch (name) {
    case 'int8': return new Int8();
    case 'int16': return new Int16();
    case 'int32': return new Int32();
    case 'int64': return new Int64();
    case 'uint8': return new Uint8();
    case 'uint16': return new Uint16();
    case 'uint32': return new Uint32();
    case 'uint64': return new Uint64();
    case 'float32': return new Float32();
    case 'float64': return new Float64();
    case 'bool': return new Bool();
    case 'date32': return new DateDay();
    case 'date64': return new DateMillisecond();
    case 'timestamp': return new TimestampMicrosecond();
    case 'decimal10': return new Decimal(2, 10, 128);
    case 'decimal30': return new Decimal(3, 30, 128);
    case 'utf8': return new Utf8();
    case 'largeUtf8': return new LargeUtf8();
    case 'binary': return new Binary();
    case 'largeBinary': return new LargeBinary();
    case 'fixed3': return new FixedSizeBinary(3);
    case 'fixed12': return new FixedSizeBinary(12);
  }
}

export interface ColumnShape {
  /** Share of null rows. */
  nullRate: number;
  /** Distinct values drawn from: small makes many duplicates. */
  cardinality: number;
}

const SPECIAL_DOUBLES = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e308, 1e-308];

function randomBytes(rng: Random, length: number, alphabet: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = 97 + rng.int(alphabet);
  return bytes;
}

/** One random column of `n` rows. Values come from a pool of `cardinality` per column. */
export function randomColumn(rng: Random, name: TypeName, n: number, shape: ColumnShape): Data {
  const type = arrowType(name);
  const validity = new Uint8Array(Math.ceil(n / 8));
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (rng.bool(shape.nullRate)) nullCount++;
    else validity[i >> 3]! |= 1 << (i & 7);
  }
  const poolSize = Math.max(1, shape.cardinality);
  const nullBitmap = nullCount > 0 ? validity : null;
  switch (name) {
    case 'int8': case 'int16': case 'int32': case 'uint8': case 'uint16': case 'uint32': case 'date32': {
      const ArrayType = (type as unknown as { ArrayType: new (n: number) => Int32Array }).ArrayType;
      const pool = Array.from({ length: poolSize }, () => Number(rng.nextU64() & 0xffffffffn) | 0);
      const values = new ArrayType(n);
      for (let i = 0; i < n; i++) values[i] = pool[rng.int(poolSize)]!;
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'int64': case 'date64': case 'timestamp': {
      const pool = Array.from({ length: poolSize }, () => BigInt.asIntN(64, rng.nextU64()));
      const values = new BigInt64Array(n);
      for (let i = 0; i < n; i++) values[i] = pool[rng.int(poolSize)]!;
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'uint64': {
      const pool = Array.from({ length: poolSize }, () => rng.nextU64());
      const values = new BigUint64Array(n);
      for (let i = 0; i < n; i++) values[i] = pool[rng.int(poolSize)]!;
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'float32': case 'float64': {
      const pool = Array.from({ length: poolSize }, () =>
        rng.bool(0.2) ? rng.pick(SPECIAL_DOUBLES) : (rng.next() - 0.5) * 10 ** rng.int(12),
      );
      const values = name === 'float32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = pool[rng.int(poolSize)]!;
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'bool': {
      const values = new Uint8Array(Math.ceil(n / 8));
      for (let i = 0; i < n; i++) if (rng.bool()) values[i >> 3]! |= 1 << (i & 7);
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'decimal10': case 'decimal30': {
      const limit = name === 'decimal10' ? 10n ** 10n : 10n ** 30n;
      const pool = Array.from({ length: poolSize }, () => {
        const magnitude = (rng.nextU64() << 64n | rng.nextU64()) % limit;
        return rng.bool() ? -magnitude : magnitude;
      });
      const values = new Uint32Array(n * 4);
      for (let i = 0; i < n; i++) {
        let v = BigInt.asUintN(128, pool[rng.int(poolSize)]!);
        for (let w = 0; w < 4; w++) {
          values[i * 4 + w] = Number(v & 0xffffffffn);
          v >>= 32n;
        }
      }
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'fixed3': case 'fixed12': {
      const width = name === 'fixed3' ? 3 : 12;
      const pool = Array.from({ length: poolSize }, () => randomBytes(rng, width, 4));
      const values = new Uint8Array(n * width);
      for (let i = 0; i < n; i++) values.set(pool[rng.int(poolSize)]!, i * width);
      return makeData({ type, length: n, nullCount, nullBitmap, data: values } as never);
    }
    case 'utf8': case 'largeUtf8': case 'binary': case 'largeBinary': {
      // Common prefixes longer than 8 bytes make prefix ties that the comparator must break.
      const stems = ['', 'a', 'prefix-shared-', 'zz'];
      const pool = Array.from({ length: poolSize }, () => {
        const stem = new TextEncoder().encode(rng.pick(stems));
        const tail = randomBytes(rng, rng.int(14), 6);
        const bytes = new Uint8Array(stem.length + tail.length);
        bytes.set(stem);
        bytes.set(tail, stem.length);
        return bytes;
      });
      const large = name === 'largeUtf8' || name === 'largeBinary';
      const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
      const chosen: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < n; i++) {
        const valid = (validity[i >> 3]! >> (i & 7)) & 1;
        const bytes = valid ? pool[rng.int(poolSize)]! : new Uint8Array(0);
        chosen.push(bytes);
        total += bytes.length;
        offsets[i + 1] = (large ? BigInt(total) : total) as never;
      }
      const values = new Uint8Array(total);
      let at = 0;
      for (const bytes of chosen) {
        values.set(bytes, at);
        at += bytes.length;
      }
      return makeData({ type, length: n, nullCount, nullBitmap, data: values, valueOffsets: offsets } as never);
    }
  }
}

export function batchOf(columns: ReadonlyArray<{ name: string; data: Data }>): RecordBatch {
  const fields = columns.map((c) => new Field(c.name, c.data.type, true));
  const schema = new Schema(fields);
  const length = columns[0]?.data.length ?? 0;
  const struct = makeData({ type: new Struct(fields), length, nullCount: 0, children: columns.map((c) => c.data) });
  return new RecordBatch(schema, struct);
}

/** A cell's raw value: number, bigint, boolean, byte string (as hex), or null. */
export type Cell = number | bigint | boolean | string | null;

export function cell(data: Data, row: number): Cell {
  const index = data.offset + row;
  if (data.nullCount > 0 && ((data.nullBitmap![index >> 3]! >> (index & 7)) & 1) === 0) return null;
  const type = data.type;
  switch (type.typeId) {
    case Type.Bool:
      return ((data.values[index >> 3]! >> (index & 7)) & 1) === 1;
    case Type.Decimal: {
      let v = 0n;
      for (let w = 3; w >= 0; w--) v = (v << 32n) | BigInt((data.values as Uint32Array)[row * 4 + w]!);
      return BigInt.asIntN(128, v);
    }
    case Type.FixedSizeBinary: {
      const width = (type as FixedSizeBinary).byteWidth;
      return hex((data.values as Uint8Array).subarray(row * width, (row + 1) * width));
    }
    case Type.Utf8: case Type.Binary: case Type.LargeUtf8: case Type.LargeBinary: {
      const offsets = data.valueOffsets as Int32Array | BigInt64Array;
      return hex((data.values as Uint8Array).subarray(Number(offsets[row]), Number(offsets[row + 1])));
    }
    default:
      return (data.values as unknown as ArrayLike<number | bigint>)[row]!;
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Total order of a column's non-null cells, as the engine documents it. */
export function compareCells(a: Cell, b: Cell, type: DataType): number {
  if (type.typeId === Type.Float) {
    const x = a as number;
    const y = b as number;
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
    if (x === 0 && y === 0) return Object.is(x, -0) === Object.is(y, -0) ? 0 : Object.is(x, -0) ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'string') return a < (b as string) ? -1 : a > (b as string) ? 1 : 0; // hex keeps byte order
  if (typeof a === 'boolean') return Number(a) - Number(b as boolean);
  const x = a as number | bigint;
  const y = b as number | bigint;
  return x < y ? -1 : x > y ? 1 : 0;
}
