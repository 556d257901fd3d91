/**
 * What the benchmark workers share: one JSON line of results (with the process's peak RSS),
 * medians, the inputs written once (an Arrow IPC stream file, a DuckDB table) and read back as
 * a stream of batches.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { RecordBatchReader, RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import { peakRssBytes } from '../../src/util/peakRss.js';
import { loadDuckDB } from './peers.js';

export function report(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...result, peakRssBytes: peakRssBytes() })}\n`);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Writes the batches as an Arrow IPC stream file, unless the file exists. */
export async function writeIpcFile(path: string, batches: Iterable<RecordBatch>): Promise<void> {
  if (existsSync(path)) return;
  const writer = RecordBatchStreamWriter.throughNode();
  const done = new Promise<void>((resolve, reject) => {
    writer.pipe(createWriteStream(path)).on('finish', resolve).on('error', reject);
  });
  for (const batch of batches) writer.write(batch);
  writer.end();
  await done;
}

/** The batches of an IPC stream file, read as a stream (never whole in memory). */
export async function* batchesOf(path: string): AsyncGenerator<RecordBatch> {
  const reader = await RecordBatchReader.from(createReadStream(path, { highWaterMark: 4 << 20 }));
  for await (const batch of reader) yield batch;
}

export async function schemaOf(path: string): Promise<Schema> {
  for await (const batch of batchesOf(path)) return batch.schema;
  throw new Error(`${path} is empty`);
}

/** Creates DuckDB database `path` with table t (`columns`: name and DuckDB type name) holding
 *  the batches' rows, unless the file exists. */
export async function writeDuckdbTable(
  path: string,
  columns: readonly [name: string, type: 'BIGINT' | 'DOUBLE' | 'VARCHAR'][],
  batches: Iterable<RecordBatch>,
): Promise<void> {
  if (existsSync(path)) return;
  const duckdb = await loadDuckDB();
  const instance = await duckdb.DuckDBInstance.create(path);
  const connection = await instance.connect();
  await connection.run(`CREATE TABLE t (${columns.map(([name, type]) => `${name} ${type}`).join(', ')})`);
  const appender = await connection.createAppender('t');
  const types = columns.map(([, type]) => duckdb[type]);
  for (const batch of batches) {
    const chunk = duckdb.DuckDBDataChunk.create(types, batch.numRows);
    for (let c = 0; c < columns.length; c++) chunk.setColumnValues(c, [...batch.getChildAt(c)!]);
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
  connection.closeSync();
  instance.closeSync();
}
