/**
 * The oracle for sort tests: plain JavaScript, row by row, with Array.prototype.sort over raw
 * cells. It shares nothing with the engine but the documented order (nulls first or last per
 * key, floats in total order, bytes unsigned).
 */
import type { RecordBatch } from 'apache-arrow';
import { type Cell, cell, compareCells } from './arrowData.js';

export interface ReferenceKey {
  column: string;
  descending?: boolean;
  nullsFirst?: boolean;
}

export function rowsOf(batches: readonly RecordBatch[]): Cell[][] {
  const rows: Cell[][] = [];
  for (const batch of batches) {
    const columns = batch.data.children;
    for (let r = 0; r < batch.numRows; r++) rows.push(columns.map((data) => cell(data, r)));
  }
  return rows;
}

export function referenceSort(batches: readonly RecordBatch[], keys: readonly ReferenceKey[]): Cell[][] {
  const schema = batches[0]!.schema;
  const resolved = keys.map((key) => {
    const index = schema.fields.findIndex((f) => f.name === key.column);
    const descending = key.descending ?? false;
    return { index, type: schema.fields[index]!.type, descending, nullsFirst: key.nullsFirst ?? !descending };
  });
  return rowsOf(batches).sort((a, b) => compareRows(a, b, resolved));
}

export function compareRows(
  a: Cell[],
  b: Cell[],
  keys: ReadonlyArray<{ index: number; type: import('apache-arrow').DataType; descending: boolean; nullsFirst: boolean }>,
): number {
  for (const key of keys) {
    const x = a[key.index]!;
    const y = b[key.index]!;
    if (x === null || y === null) {
      if (x === null && y === null) continue;
      return (x === null) === key.nullsFirst ? -1 : 1;
    }
    const c = compareCells(x, y, key.type);
    if (c !== 0) return key.descending ? -c : c;
  }
  return 0;
}

/** Rows as text, in order, to compare outputs whose equal-key rows may come in any order:
 *  the key columns must match row by row, the whole rows as a multiset. */
export function canonical(rows: Cell[][]): string[] {
  return rows.map((row) => row.map((c) => (typeof c === 'bigint' ? `${c}n` : Object.is(c, -0) ? '-0' : String(c))).join('|'));
}
