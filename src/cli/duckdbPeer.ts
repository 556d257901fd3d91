/**
 * DuckDB as the spill lab's peer (`tungsten bench spill --peers duckdb`), run the way
 * WORKLOADS.md measures peers: threads = cores, memory_limit = the budget, temp_directory in the
 * lab's folder, `CREATE TABLE out AS SELECT … ORDER BY …` or `… GROUP BY …` so the output is
 * materialised as ours is.
 *
 * DuckDB is not a dependency of the package (its registry here has linux-x64 builds only). It is
 * loaded at run time from the working folder's node_modules, or from the project's bench/peers
 * (where `npm run bench:*` installs it); if neither has it, the lab says how to install it.
 *
 *   1. prepareDuckdbTable: once per input, the Arrow IPC file is read batch by batch and
 *      appended to table t of a DuckDB database file in the lab's folder (not timed).
 *   2. runDuckdbQuery: in a fresh process per budget (the hidden `tungsten bench peer` command),
 *      the query runs once; its time and the process's peak RSS are the point.
 */
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RecordBatchReader, type Schema, Type } from 'apache-arrow';
import { InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { peakRssBytes } from '../util/peakRss.js';

interface DuckDBConnection {
  run(sql: string): Promise<unknown>;
  runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }>;
  createAppender(table: string): Promise<{ appendDataChunk(chunk: unknown): void; closeSync(): void }>;
  closeSync(): void;
}

interface DuckDBModule {
  DuckDBInstance: { create(path: string, options?: Record<string, string>): Promise<{ connect(): Promise<DuckDBConnection>; closeSync(): void }> };
  DuckDBDataChunk: { create(types: readonly unknown[], rows: number): { setColumnValues(column: number, values: readonly unknown[]): void } };
  BIGINT: unknown;
  DOUBLE: unknown;
  VARCHAR: unknown;
}

/** bench/peers of the package (from src/cli or dist/cli alike, as spillLab's CLI_ENTRY). */
const BENCH_PEERS = fileURLToPath(new URL('../../bench/peers/', import.meta.url));

/** Where @duckdb/node-api is looked for, in order. */
function duckdbSearchPaths(): string[] {
  return [join(process.cwd(), 'package.json'), join(BENCH_PEERS, 'package.json')];
}

/** @duckdb/node-api, resolved from `searchPaths` (package.json files) in order. */
export async function loadDuckdb(searchPaths: readonly string[] = duckdbSearchPaths()): Promise<DuckDBModule> {
  for (const from of searchPaths) {
    let resolved: string;
    try {
      resolved = createRequire(from).resolve('@duckdb/node-api');
    } catch {
      continue;
    }
    return (await import(pathToFileURL(resolved).href)) as DuckDBModule;
  }
  throw new InvalidArgumentError(
    `--peers duckdb needs @duckdb/node-api, which is not installed: run \`npm install @duckdb/node-api\` here, or \`npm install --prefix ${BENCH_PEERS}\``,
  );
}

/** DuckDB's column type for an Arrow field type: the three kinds the spill lab's workloads have. */
function duckdbType(duckdb: DuckDBModule, typeId: Type, column: string): { name: string; type: unknown } {
  switch (typeId) {
    case Type.Int:
      return { name: 'BIGINT', type: duckdb.BIGINT };
    case Type.Float:
      return { name: 'DOUBLE', type: duckdb.DOUBLE };
    case Type.Utf8:
      return { name: 'VARCHAR', type: duckdb.VARCHAR };
    default:
      throw new UnsupportedTypeError(column, Type[typeId], 'integers, floats and utf8 (what the DuckDB peer loads)');
  }
}

/** DuckDB's vectors hold at most this many rows: an Arrow batch is appended in slices. */
const DUCKDB_CHUNK_ROWS = 2048;

/** Step 1: loads the IPC file into table t of database `dbPath`, unless that file exists. */
export async function prepareDuckdbTable(ipcPath: string, dbPath: string): Promise<void> {
  if (existsSync(dbPath)) return;
  const duckdb = await loadDuckdb();
  const partial = `${dbPath}.tmp`;
  rmSync(partial, { force: true });
  const instance = await duckdb.DuckDBInstance.create(partial);
  try {
    const connection = await instance.connect();
    try {
      const reader = await RecordBatchReader.from(createReadStream(ipcPath, { highWaterMark: 4 << 20 }));
      let appender: Awaited<ReturnType<DuckDBConnection['createAppender']>> | undefined;
      let types: unknown[] = [];
      for await (const batch of reader) {
        if (!appender) {
          const columns = columnsOf(duckdb, batch.schema);
          await connection.run(`CREATE TABLE t (${columns.map((c) => `"${c.column}" ${c.name}`).join(', ')})`);
          appender = await connection.createAppender('t');
          types = columns.map((c) => c.type);
        }
        for (let start = 0; start < batch.numRows; start += DUCKDB_CHUNK_ROWS) {
          const slice = batch.slice(start, Math.min(batch.numRows, start + DUCKDB_CHUNK_ROWS));
          const chunk = duckdb.DuckDBDataChunk.create(types, slice.numRows);
          for (let c = 0; c < types.length; c++) chunk.setColumnValues(c, slice.getChildAt(c)!.toArray() as unknown as unknown[]);
          appender.appendDataChunk(chunk);
        }
      }
      appender?.closeSync();
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
  renameSync(partial, dbPath);
  rmSync(`${partial}.wal`, { force: true });
}

function columnsOf(duckdb: DuckDBModule, schema: Schema): { column: string; name: string; type: unknown }[] {
  return schema.fields.map((field) => ({ column: field.name, ...duckdbType(duckdb, field.type.typeId, field.name) }));
}

export interface PeerRun {
  readonly seconds: number;
  readonly peakRssBytes: number;
  readonly outputRows: number;
}

/** Step 2: runs `select` into table out, under `budgetBytes` and `cores` threads. */
export async function runDuckdbQuery(dbPath: string, select: string, budgetBytes: number, cores: number, tempDir: string): Promise<PeerRun> {
  if (!existsSync(dbPath)) throw new InvalidArgumentError(`${dbPath} does not exist; prepare it first`);
  const duckdb = await loadDuckdb();
  mkdirSync(tempDir, { recursive: true });
  const instance = await duckdb.DuckDBInstance.create(dbPath, {
    threads: String(cores),
    memory_limit: `${Math.floor(budgetBytes / 2 ** 20)}MiB`,
    temp_directory: tempDir,
    preserve_insertion_order: 'true',
  });
  try {
    const connection = await instance.connect();
    try {
      await connection.run('DROP TABLE IF EXISTS out');
      const start = performance.now();
      await connection.run(`CREATE TABLE out AS ${select}`);
      const seconds = (performance.now() - start) / 1000;
      const outputRows = Number((await connection.runAndReadAll('SELECT count(*) FROM out')).getRows()[0]![0]);
      await connection.run('DROP TABLE out');
      return { seconds, peakRssBytes: peakRssBytes(), outputRows };
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
