/**
 * The reference aggregation for differential tests: a Map over stringified keys, in plain
 * JavaScript, with the rules of src/aggregate/aggregates.ts written out independently.
 */
import { type DataType, type RecordBatch, Type } from 'apache-arrow';
import { type Cell, cell, compareCells } from './arrowData.js';

export interface ReferenceAggregate {
  fn: 'count' | 'sum' | 'min' | 'max' | 'avg';
  /** undefined: count(*) */
  column?: string;
}

export interface ReferenceGroup {
  key: Cell[];
  values: ReferenceValue[];
}

/** A result: exact (bigint, string, boolean, null), or a float with the tolerance its sum allows. */
export type ReferenceValue = { exact: Cell } | { float: number; tolerance: number } | { overflow: true };

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** -0 joins +0 and every NaN is one NaN, as group keys. */
function normalizeKey(value: Cell): Cell {
  if (typeof value === 'number') return Number.isNaN(value) ? Number.NaN : value === 0 ? 0 : value;
  return value;
}

export function keyString(key: readonly Cell[]): string {
  return JSON.stringify(key.map((v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v)));
}

interface State {
  key: Cell[];
  count: number;
  nonNull: number;
  intSum: bigint;
  floatSum: number;
  magnitude: number;
  best: Cell;
}

export function referenceAggregate(
  batches: readonly RecordBatch[],
  keys: readonly string[],
  aggregates: readonly ReferenceAggregate[],
): ReferenceGroup[] {
  const schema = batches[0]!.schema;
  const index = (name: string): number => schema.fields.findIndex((f) => f.name === name);
  const keyIndexes = keys.map(index);
  const valueIndexes = aggregates.map((a) => (a.column === undefined ? -1 : index(a.column)));
  const groups = new Map<string, State[]>();
  for (const batch of batches) {
    const keyData = keyIndexes.map((i) => batch.data.children[i]!);
    const valueData = valueIndexes.map((i) => (i < 0 ? undefined : batch.data.children[i]!));
    for (let row = 0; row < batch.numRows; row++) {
      const key = keyData.map((d) => normalizeKey(cell(d, row)));
      const id = keyString(key);
      let states = groups.get(id);
      if (!states) {
        states = aggregates.map(() => ({ key, count: 0, nonNull: 0, intSum: 0n, floatSum: 0, magnitude: 0, best: null }));
        groups.set(id, states);
      }
      aggregates.forEach((aggregate, a) => {
        const state = states[a]!;
        state.count++;
        const data = valueData[a];
        if (!data) return;
        const value = cell(data, row);
        if (value === null) return;
        state.nonNull++;
        if (aggregate.fn === 'sum' || aggregate.fn === 'avg') {
          if (typeof value === 'bigint') state.intSum += value;
          const v = Number(value);
          if (data.type.typeId === Type.Int && typeof value === 'number') state.intSum += BigInt(value);
          state.floatSum += v;
          state.magnitude += Math.abs(v);
        } else if (aggregate.fn === 'min' || aggregate.fn === 'max') {
          const c = state.best === null ? 0 : compareCells(value, state.best, data.type);
          if (state.best === null || (aggregate.fn === 'min' ? c < 0 : c > 0)) state.best = value;
        }
      });
    }
  }
  return [...groups.values()].map((states) => ({
    key: states[0]?.key ?? [],
    values: aggregates.map((aggregate, a) => result(aggregate, states[a]!, valueIndexes[a]! < 0 ? undefined : schema.fields[valueIndexes[a]!]!.type)),
  }));
}

function tolerance(magnitude: number): number {
  return 1e-9 * Math.max(1, magnitude);
}

function result(aggregate: ReferenceAggregate, state: State, type: DataType | undefined): ReferenceValue {
  switch (aggregate.fn) {
    case 'count':
      return { exact: BigInt(aggregate.column === undefined ? state.count : state.nonNull) };
    case 'min':
    case 'max':
      return { exact: state.best };
    case 'sum':
      if (state.nonNull === 0) return { exact: null };
      if (type!.typeId === Type.Int) {
        return state.intSum > INT64_MAX || state.intSum < INT64_MIN ? { overflow: true } : { exact: state.intSum };
      }
      return { float: state.floatSum, tolerance: tolerance(state.magnitude) };
    case 'avg':
      if (state.nonNull === 0) return { exact: null };
      return { float: state.floatSum / state.nonNull, tolerance: tolerance(state.magnitude / state.nonNull) };
  }
}

/** Whether a float result matches: equal, both NaN, equal infinities, or within tolerance. */
export function floatMatches(actual: number, expected: number, tol: number): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) return Number.isNaN(expected) && Number.isNaN(actual);
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return actual === expected;
  return Math.abs(actual - expected) <= tol;
}
