/**
 * One engine running one workload as a whole job, in a process of its own so that its peak RSS
 * is its own. Prints one JSON line on stdout. Used by bench/jobs.bench.ts; not a public tool.
 *
 *   node jobWorker.js prepare <workload> <rows> <dir>        the IPC file (file format, so a
 *                                                           job can split it) — not timed
 *   node jobWorker.js run <engine> <workload> <rows> <dir> <runs> <cores> <partitions>
 *
 * tungsten: a Session with `cores` slots and the workload's budget reads the IPC file through
 * the Dataset API (sortBy, or groupBy(g).agg) and every output batch is consumed (toBatches).
 * duckdb: threads = cores, memory_limit = the budget, CREATE TABLE out AS SELECT … (the
 * database of sortWorker/aggWorker's prepare).
 */
import { createWriteStream, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { RecordBatchFileWriter } from 'apache-arrow';
import { generate } from '../../src/api/generator.js';
import { Session } from '../../src/api/Session.js';
import { loadDuckDB } from './peers.js';
import { median, report } from './workerIo.js';
import { AGG_WORKLOADS, SORT_WORKLOADS } from './workloads.js';

const [mode, ...args] = process.argv.slice(2);
const id = mode === 'prepare' ? args[0] : args[1];
const sort = SORT_WORKLOADS.find((w) => w.id === id);
const agg = AGG_WORKLOADS.find((w) => w.id === id);
const workload = sort ?? agg;
if (!workload) throw new Error(`usage: jobWorker prepare|run …; unknown workload in ${process.argv.join(' ')}`);
const filePath = (rows: number, dir: string): string => join(dir, `${workload.id}-${rows}.arrow`);

async function prepare(rows: number, dir: string): Promise<void> {
  const path = filePath(rows, dir);
  if (!existsSync(path)) {
    const writer = RecordBatchFileWriter.throughNode();
    const done = new Promise<void>((resolve, reject) => {
      writer.pipe(createWriteStream(`${path}.tmp`)).on('finish', resolve).on('error', reject);
    });
    const batches = sort ? generate(sort.kind, { rows }) : generate('groups', { rows, groups: agg!.groups });
    for (const batch of batches) writer.write(batch);
    writer.end();
    await done;
    renameSync(`${path}.tmp`, path);
  }
  report({ prepared: true });
}

async function runTungsten(rows: number, dir: string, runs: number, cores: number, partitions: number): Promise<void> {
  const seconds: number[] = [];
  let job: unknown;
  let out = 0;
  for (let r = 0; r < runs; r++) {
    const session = await Session.create({ cores, memory: workload!.budget, shufflePartitions: partitions, localDirs: [join(dir, 'spill')] });
    try {
      const start = performance.now();
      const data = session.readArrow(filePath(rows, dir));
      const planned = sort ? data.sortBy(sort.key) : data.groupBy('g').agg('count(*)', 'sum(v)', 'min(v)', 'max(v)');
      out = 0;
      for await (const batch of planned.toBatches()) out += batch.numRows;
      seconds.push((performance.now() - start) / 1000);
      job = { main: session.lastJob, all: session.jobs.length };
    } finally {
      await session.close();
    }
    if (sort && out !== rows) throw new Error(`tungsten returned ${out} rows of ${rows}`);
  }
  report({ engine: 'tungsten', seconds, medianSeconds: median(seconds), out, job });
}

async function runDuckdb(rows: number, dir: string, runs: number, cores: number): Promise<void> {
  const { DuckDBInstance } = await loadDuckDB();
  const instance = await DuckDBInstance.create(join(dir, `${workload!.id}-${rows}.duckdb`), {
    threads: String(cores),
    memory_limit: workload!.budget,
    temp_directory: join(dir, 'duckdb-tmp'),
    preserve_insertion_order: 'true',
  });
  const connection = await instance.connect();
  const query = sort
    ? `CREATE TABLE out AS SELECT * FROM t ORDER BY ${sort.key}`
    : 'CREATE TABLE out AS SELECT g, count(*) AS n, sum(v) AS s, min(v) AS mn, max(v) AS mx FROM t GROUP BY g';
  const seconds: number[] = [];
  for (let r = 0; r < runs; r++) {
    await connection.run('DROP TABLE IF EXISTS out');
    const start = performance.now();
    await connection.run(query);
    seconds.push((performance.now() - start) / 1000);
  }
  const out = Number((await connection.runAndReadAll('SELECT count(*) FROM out')).getRows()[0]![0]);
  await connection.run('DROP TABLE IF EXISTS out');
  connection.closeSync();
  instance.closeSync();
  report({ engine: 'duckdb', seconds, medianSeconds: median(seconds), out });
}

if (mode === 'prepare') {
  await prepare(Number(args[1]), args[2]!);
} else {
  const [engine, , rowsText, dir, runsText, coresText, partitionsText] = args;
  const [rows, runs, cores, partitions] = [rowsText, runsText, coresText, partitionsText].map(Number) as [number, number, number, number];
  if (engine === 'tungsten') await runTungsten(rows, dir!, runs, cores, partitions);
  else if (engine === 'duckdb') await runDuckdb(rows, dir!, runs, cores);
  else throw new Error(`unknown engine ${engine}`);
}
