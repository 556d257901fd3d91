/**
 * Byte arithmetic with Spark's integer semantics.
 *
 * Byte counts are JavaScript numbers holding whole numbers up to 2^53 − 1 (8 PiB), checked at
 * every public entry. Integer division goes through BigInt so that `a / b` truncates exactly,
 * as Java's long division does, with no floating-point rounding near 2^53. Multiplying by a
 * fraction is done in floating point and truncated, because that is what Spark does
 * (`(maxMemory * fraction).toLong`); doing it "more exactly" would disagree with Spark.
 */
import { InvalidArgumentError } from '../errors.js';

export function assertByteCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a whole number of bytes from 0 to 2^53 − 1, got ${value}`);
  }
}

/** ⌊a / b⌋ for non-negative safe integers, exact. */
export function floorDiv(a: number, b: number): number {
  return Number(BigInt(a) / BigInt(b));
}

/** `(bytes * fraction).toLong` as Spark computes it. */
export function scaleBytes(bytes: number, fraction: number): number {
  return Math.trunc(bytes * fraction);
}

/** Spark's ByteArrayMethods.nextPowerOf2: n itself if a power of two, 0 for 0. */
export function nextPowerOf2(n: number): number {
  if (n <= 1) return n;
  let power = 1;
  while (power < n) power *= 2;
  return power;
}
