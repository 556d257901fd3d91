import type { Schema } from 'apache-arrow';
import { SchemaMismatchError } from '../errors.js';

/** Same field names and types, in order (nullability and metadata aside). */
export function sameFields(a: Schema, b: Schema): boolean {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every((f, i) => f.name === b.fields[i]!.name && String(f.type) === String(b.fields[i]!.type))
  );
}

/** "name: type, …" for messages. */
export function describeFields(schema: Schema): string {
  return schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ');
}

/** Throws SchemaMismatchError unless a batch's `schema` has `expected`'s fields, by name and
 *  type; `owner` names what takes the batch ("the sorter"). */
export function checkBatchSchema(schema: Schema, expected: Schema, owner: string): void {
  if (!sameFields(schema, expected)) {
    throw new SchemaMismatchError(`the batch's schema (${describeFields(schema)}) is not ${owner}'s (${describeFields(expected)})`);
  }
}
