/** The sort workloads of WORKLOADS.md. */
import type { WorkloadKind } from '../../src/api/generator.js';

export interface SortWorkload {
  id: 'S1' | 'S2' | 'S3';
  kind: WorkloadKind;
  key: string;
  rows: number;
  /** The memory budget, as DuckDB's memory_limit and our memory.offHeap.size. */
  budget: string;
  description: string;
}

export const SORT_WORKLOADS: readonly SortWorkload[] = [
  { id: 'S1', kind: 'keyPayload', key: 'key', rows: 20_000_000, budget: '4GB', description: 'int64 key, 20 M rows, 4 GB, no spill' },
  { id: 'S2', kind: 'keyPayload', key: 'key', rows: 50_000_000, budget: '256MB', description: 'int64 key, 50 M rows, 256 MB, spills' },
  { id: 'S3', kind: 'stringKey', key: 'skey', rows: 10_000_000, budget: '256MB', description: 'utf8 key, 10 M rows, 256 MB, spills' },
];

/** The aggregation workloads of WORKLOADS.md: group by g, count(*), sum(v), min(v), max(v). */
export interface AggWorkload {
  id: 'A1' | 'A2';
  rows: number;
  groups: number;
  budget: string;
  description: string;
}

export const AGG_WORKLOADS: readonly AggWorkload[] = [
  { id: 'A1', rows: 20_000_000, groups: 1000, budget: '4GB', description: 'G = 1,000, 20 M rows, 4 GB' },
  { id: 'A2', rows: 20_000_000, groups: 4_000_000, budget: '256MB', description: 'G = 4,000,000, 20 M rows, 256 MB, spills' },
];
