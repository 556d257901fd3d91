/**
 * Byte sizes as Spark writes them: "512m", "4g", "64k", "100b", "1t" (binary multiples,
 * case-insensitive, an optional trailing "b": "512mb"). A bare number is bytes. Fractions
 * ("1.5g") are rejected, as Spark rejects them, because they hide rounding.
 */
import { InvalidArgumentError } from '../errors.js';

/** A size in bytes, or a string with a unit. */
export type Size = number | string;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  kb: 2 ** 10,
  m: 2 ** 20,
  mb: 2 ** 20,
  g: 2 ** 30,
  gb: 2 ** 30,
  t: 2 ** 40,
  tb: 2 ** 40,
  p: 2 ** 50,
  pb: 2 ** 50,
};

/** Parses a size; throws InvalidArgumentError saying what form is expected. */
export function parseSize(value: Size): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(
        `${value} is not a size: give a whole number of bytes from 0 to 2^53 − 1, or a string such as "512m"`,
      );
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`${String(value)} is not a size: give a number of bytes or a string such as "512m"`);
  }
  const text = value.trim().toLowerCase();
  const match = /^([0-9]+)([a-z]*)$/.exec(text);
  if (!match) {
    const fractional = /^[0-9]+\.[0-9]+[a-z]*$/.test(text);
    throw new InvalidArgumentError(
      fractional
        ? `"${value}" is not a size: fractional values are not supported; use a smaller unit ("1536m" for "1.5g")`
        : `"${value}" is not a size: use a whole number with an optional unit b, k, m, g, t or p (for example "512m")`,
    );
  }
  const multiplier = UNITS[match[2]!];
  if (multiplier === undefined) {
    throw new InvalidArgumentError(`"${value}" has an unknown unit "${match[2]}": use b, k, m, g, t or p`);
  }
  const bytes = Number(match[1]) * multiplier;
  if (!Number.isSafeInteger(bytes)) {
    throw new InvalidArgumentError(`"${value}" is too large: sizes stop at 2^53 − 1 bytes`);
  }
  return bytes;
}

/** Renders a byte count for people: "1.5 GiB", "300 MiB", "12 B". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}
