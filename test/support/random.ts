/**
 * The seeded generator of WORKLOADS.md: splitmix64(seed + i) is the i-th value. Tests and
 * benchmarks draw from it so that every case is reproduced by its seed.
 */
const MASK = (1n << 64n) - 1n;

export function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/** A sequential stream of splitmix64 values with helpers; fast enough for test data. */
export class Random {
  private counter: bigint;

  constructor(seed: number | bigint) {
    this.counter = BigInt(seed);
  }

  /** The next value as an unsigned 64-bit bigint. */
  nextU64(): bigint {
    const value = splitmix64(this.counter);
    this.counter += 1n;
    return value;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return Number(this.nextU64() >> 11n) / 2 ** 53;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }
}
