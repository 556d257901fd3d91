/**
 * The peer engines, loaded from bench/peers (installed there on demand by sort.bench.ts, not a
 * dependency of the package). Typed here with just what the benchmark uses.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const peersDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'bench', 'peers');

async function load<T>(name: string): Promise<T> {
  const resolved = createRequire(join(peersDir, 'package.json')).resolve(name);
  return (await import(pathToFileURL(resolved).href)) as T;
}

export interface DuckDBConnection {
  run(sql: string): Promise<unknown>;
  runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }>;
  createAppender(table: string): Promise<{ appendDataChunk(chunk: unknown): void; closeSync(): void }>;
  closeSync(): void;
}

export interface DuckDB {
  DuckDBInstance: { create(path: string, options?: Record<string, string>): Promise<{ connect(): Promise<DuckDBConnection>; closeSync(): void }> };
  DuckDBDataChunk: { create(types: readonly unknown[], rows: number): { setColumnValues(column: number, values: readonly unknown[]): void } };
  BIGINT: unknown;
  DOUBLE: unknown;
  VARCHAR: unknown;
}

interface PolarsExpr {
  count(): PolarsExpr;
  sum(): PolarsExpr;
  min(): PolarsExpr;
  max(): PolarsExpr;
  alias(name: string): PolarsExpr;
}

export interface Polars {
  DataFrame(series: unknown[]): {
    sort(column: string): { height: number };
    groupBy(column: string): { agg(...exprs: PolarsExpr[]): { height: number } };
  };
  Series(name: string, values: unknown): unknown;
  col(name: string): PolarsExpr;
}

export const loadDuckDB = (): Promise<DuckDB> => load<DuckDB>('@duckdb/node-api');
export const loadPolars = async (): Promise<Polars> => (await load<{ default: Polars }>('nodejs-polars')).default;
