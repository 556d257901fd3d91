import type { Schema } from 'apache-arrow';

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
