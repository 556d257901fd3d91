/**
 * One engine running one aggregation workload, in a process of its own so that its peak RSS is
 * its own. Prints one JSON line on stdout. Used by bench/agg.bench.ts; not a public tool.
 *
 *   node aggWorker.js prepare <workload> <rows> <dir>          write the inputs (not timed)
 *   node aggWorker.js run <engine> <workload> <rows> <dir> <runs>
 *
 * Every engine computes group by g: count(*), sum(v), min(v), max(v), materialised: ours
 * consumes every output batch, DuckDB creates a table, Polars a data frame.
 */
import { join } from 'node:path';
import { HashAggregator } from '../../src/aggregate/HashAggregator.js';
import { resolveConfig } from '../../src/config/options.js';
import { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { createMemoryManager } from '../../src/memory/createMemoryManager.js';
import { DiskBlockManager } from '../../src/storage/DiskBlockManager.js';
import { generate } from '../../src/api/generator.js';
import { loadDuckDB, loadPolars } from './peers.js';
import { batchesOf, median, report, schemaOf, writeDuckdbTable, writeIpcFile } from './workerIo.js';
import { AGG_WORKLOADS, type AggWorkload } from './workloads.js';

const [mode, ...args] = process.argv.slice(2);
const ipcPath = (w: AggWorkload, rows: number, dir: string): string => join(dir, `${w.id}-${rows}.arrows`);

async function prepare(workload: AggWorkload, rows: number, dir: string): Promise<void> {
  await writeIpcFile(ipcPath(workload, rows, dir), generate('groups', { rows, groups: workload.groups }));
  await writeDuckdbTable(
    join(dir, `${workload.id}-${rows}.duckdb`),
    [
      ['g', 'BIGINT'],
      ['v', 'DOUBLE'],
    ],
    generate('groups', { rows, groups: workload.groups, batchRows: 2048 }),
  );
  report({ prepared: true });
}

async function runTungsten(workload: AggWorkload, rows: number, dir: string, runs: number): Promise<void> {
  const seconds: number[] = [];
  let metrics: Record<string, unknown> = {};
  let groups = 0;
  const diskBlockManager = new DiskBlockManager([join(dir, 'spill')]);
  const schema = await schemaOf(ipcPath(workload, rows, dir));
  for (let r = 0; r < runs; r++) {
    const mm = createMemoryManager(resolveConfig({ 'memory.offHeap.size': workload.budget, 'executor.cores': 1 }));
    const tmm = new TaskMemoryManager(mm, r);
    const start = performance.now();
    const aggregator = await HashAggregator.create(tmm, schema, {
      groupBy: ['g'],
      aggregates: ['count(*)', 'sum(v)', 'min(v)', 'max(v)'],
      diskBlockManager,
    });
    await aggregator.insertAll(batchesOf(ipcPath(workload, rows, dir)));
    groups = 0;
    for await (const batch of aggregator.results()) groups += batch.numRows;
    seconds.push((performance.now() - start) / 1000);
    metrics = { ...aggregator.metrics };
    if (tmm.cleanUpAllAllocatedMemory() !== 0) throw new Error('the aggregation leaked memory');
  }
  diskBlockManager.closeSync();
  report({ engine: 'tungsten', seconds, medianSeconds: median(seconds), groups, metrics });
}

async function runDuckdb(workload: AggWorkload, rows: number, dir: string, runs: number): Promise<void> {
  const { DuckDBInstance } = await loadDuckDB();
  const instance = await DuckDBInstance.create(join(dir, `${workload.id}-${rows}.duckdb`), {
    threads: '1',
    memory_limit: workload.budget,
    temp_directory: join(dir, 'duckdb-tmp'),
  });
  const connection = await instance.connect();
  const seconds: number[] = [];
  for (let r = 0; r < runs; r++) {
    await connection.run('DROP TABLE IF EXISTS out');
    const start = performance.now();
    await connection.run('CREATE TABLE out AS SELECT g, count(*) AS n, sum(v) AS s, min(v) AS mn, max(v) AS mx FROM t GROUP BY g');
    seconds.push((performance.now() - start) / 1000);
  }
  const groups = Number((await connection.runAndReadAll('SELECT count(*) FROM out')).getRows()[0]![0]);
  await connection.run('DROP TABLE IF EXISTS out');
  connection.closeSync();
  instance.closeSync();
  report({ engine: 'duckdb', seconds, medianSeconds: median(seconds), groups });
}

async function runPolars(workload: AggWorkload, rows: number, runs: number): Promise<void> {
  const pl = await loadPolars();
  const g = new BigInt64Array(rows);
  const v = new Float64Array(rows);
  let at = 0;
  for (const batch of generate('groups', { rows, groups: workload.groups })) {
    g.set(batch.getChildAt(0)!.data[0]!.values as BigInt64Array, at);
    v.set(batch.getChildAt(1)!.data[0]!.values as Float64Array, at);
    at += batch.numRows;
  }
  const frame = pl.DataFrame([pl.Series('g', g), pl.Series('v', v)]);
  const seconds: number[] = [];
  let groups = 0;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    const out = frame
      .groupBy('g')
      .agg(pl.col('v').count().alias('n'), pl.col('v').sum().alias('s'), pl.col('v').min().alias('mn'), pl.col('v').max().alias('mx'));
    seconds.push((performance.now() - start) / 1000);
    groups = out.height;
  }
  report({ engine: 'polars', seconds, medianSeconds: median(seconds), groups });
}

const workload = AGG_WORKLOADS.find((w) => w.id === (mode === 'prepare' ? args[0] : args[1]));
if (!workload) throw new Error(`usage: aggWorker prepare|run …; unknown workload in ${process.argv.join(' ')}`);
if (mode === 'prepare') {
  await prepare(workload, Number(args[1]), args[2]!);
} else {
  const [engine, , rowsText, dir, runsText] = args;
  const rows = Number(rowsText);
  const runs = Number(runsText);
  if (engine === 'tungsten') await runTungsten(workload, rows, dir!, runs);
  else if (engine === 'duckdb') await runDuckdb(workload, rows, dir!, runs);
  else if (engine === 'polars') await runPolars(workload, rows, runs);
  else throw new Error(`unknown engine ${engine}`);
}
