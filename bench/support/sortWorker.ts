/**
 * One engine running one sort workload, in a process of its own so that its peak RSS is its
 * own. Prints one JSON line on stdout. Used by bench/sort.bench.ts; not a public tool.
 *
 *   node sortWorker.js prepare <workload> <rows> <dir>          write the inputs (not timed)
 *   node sortWorker.js run <engine> <workload> <rows> <dir> <runs>
 *
 * Inputs: an Arrow IPC stream file for tungsten (streamed batch by batch, never whole in
 * memory) and a DuckDB database file, both with the generator's exact data.
 */
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/options.js';
import { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { createMemoryManager } from '../../src/memory/createMemoryManager.js';
import { ExternalSorter } from '../../src/sort/ExternalSorter.js';
import { DiskBlockManager } from '../../src/storage/DiskBlockManager.js';
import { generate } from '../../src/api/generator.js';
import { loadDuckDB, loadPolars } from './peers.js';
import { batchesOf, median, report, schemaOf, writeDuckdbTable, writeIpcFile } from './workerIo.js';
import { type SortWorkload, SORT_WORKLOADS } from './workloads.js';

const [mode, ...args] = process.argv.slice(2);

async function prepare(workload: SortWorkload, rows: number, dir: string): Promise<void> {
  await writeIpcFile(join(dir, `${workload.id}-${rows}.arrows`), generate(workload.kind, { rows }));
  const stringKey = workload.kind === 'stringKey';
  await writeDuckdbTable(
    join(dir, `${workload.id}-${rows}.duckdb`),
    [stringKey ? ['skey', 'VARCHAR'] : ['key', 'BIGINT'], ['payload', 'BIGINT']],
    generate(workload.kind, { rows, batchRows: 2048 }),
  );
  report({ prepared: true });
}

async function runTungsten(
  workload: SortWorkload,
  rows: number,
  dir: string,
  runs: number,
  compression: 'none' | 'lz4',
): Promise<void> {
  const seconds: number[] = [];
  let metrics: Record<string, unknown> = {};
  const diskBlockManager = new DiskBlockManager([join(dir, 'spill')]);
  for (let r = 0; r < runs; r++) {
    const mm = createMemoryManager(resolveConfig({ 'memory.offHeap.size': workload.budget, 'executor.cores': 1 }));
    const tmm = new TaskMemoryManager(mm, r);
    const start = performance.now();
    const sorter = await ExternalSorter.create(tmm, await schemaOf(join(dir, `${workload.id}-${rows}.arrows`)), {
      keys: [workload.key],
      diskBlockManager,
      compression,
    });
    await sorter.insertAll(batchesOf(join(dir, `${workload.id}-${rows}.arrows`)));
    let out = 0;
    for await (const batch of sorter.sortedBatches()) out += batch.numRows;
    seconds.push((performance.now() - start) / 1000);
    if (out !== rows) throw new Error(`tungsten returned ${out} rows of ${rows}`);
    metrics = { ...sorter.metrics };
    if (tmm.cleanUpAllAllocatedMemory() !== 0) throw new Error('the sort leaked memory');
  }
  diskBlockManager.closeSync();
  report({ engine: compression === 'lz4' ? 'tungsten-lz4' : 'tungsten', seconds, medianSeconds: median(seconds), metrics });
}

async function runDuckdb(workload: SortWorkload, rows: number, dir: string, runs: number): Promise<void> {
  const { DuckDBInstance } = await loadDuckDB();
  const instance = await DuckDBInstance.create(join(dir, `${workload.id}-${rows}.duckdb`), {
    threads: '1',
    memory_limit: workload.budget,
    temp_directory: join(dir, 'duckdb-tmp'),
    preserve_insertion_order: 'true',
  });
  const connection = await instance.connect();
  const seconds: number[] = [];
  for (let r = 0; r < runs; r++) {
    await connection.run('DROP TABLE IF EXISTS out');
    const start = performance.now();
    await connection.run(`CREATE TABLE out AS SELECT * FROM t ORDER BY ${workload.key}`);
    seconds.push((performance.now() - start) / 1000);
  }
  const count = Number((await connection.runAndReadAll('SELECT count(*) FROM out')).getRows()[0]![0]);
  if (count !== rows) throw new Error(`duckdb returned ${count} rows of ${rows}`);
  await connection.run('DROP TABLE IF EXISTS out');
  connection.closeSync();
  instance.closeSync();
  report({ engine: 'duckdb', seconds, medianSeconds: median(seconds) });
}

async function inMemoryColumns(workload: SortWorkload, rows: number): Promise<{ key: BigInt64Array | string[]; payload: BigInt64Array }> {
  const payload = new BigInt64Array(rows);
  const key: BigInt64Array | string[] = workload.kind === 'stringKey' ? [] : new BigInt64Array(rows);
  let at = 0;
  for (const batch of generate(workload.kind, { rows })) {
    const keys = batch.getChildAt(0)!;
    if (Array.isArray(key)) for (const s of keys) key.push(s as string);
    else key.set(keys.data[0]!.values as BigInt64Array, at);
    payload.set(batch.getChildAt(1)!.data[0]!.values as BigInt64Array, at);
    at += batch.numRows;
  }
  return { key, payload };
}

async function runPolars(workload: SortWorkload, rows: number, runs: number): Promise<void> {
  const pl = await loadPolars();
  const { key, payload } = await inMemoryColumns(workload, rows);
  const frame = pl.DataFrame([pl.Series(workload.key, key as never), pl.Series('payload', payload)]);
  const seconds: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    const sorted = frame.sort(workload.key);
    seconds.push((performance.now() - start) / 1000);
    if (sorted.height !== rows) throw new Error('polars lost rows');
  }
  report({ engine: 'polars', seconds, medianSeconds: median(seconds) });
}

async function runJs(workload: SortWorkload, rows: number, runs: number): Promise<void> {
  const { key } = await inMemoryColumns(workload, rows);
  if (Array.isArray(key)) throw new Error('the JavaScript baseline sorts integer keys only');
  const seconds: number[] = [];
  for (let r = 0; r < runs; r++) {
    const copy = key.slice();
    const start = performance.now();
    copy.sort();
    seconds.push((performance.now() - start) / 1000);
  }
  report({ engine: 'js', seconds, medianSeconds: median(seconds) });
}

const workload = SORT_WORKLOADS.find((w) => w.id === (mode === 'prepare' ? args[0] : args[1]));
if (!workload) throw new Error(`usage: sortWorker prepare|run …; unknown workload in ${process.argv.join(' ')}`);
if (mode === 'prepare') {
  await prepare(workload, Number(args[1]), args[2]!);
} else {
  const [engine, , rowsText, dir, runsText] = args;
  const rows = Number(rowsText);
  const runs = Number(runsText);
  if (engine === 'tungsten') await runTungsten(workload, rows, dir!, runs, 'none');
  else if (engine === 'tungsten-lz4') await runTungsten(workload, rows, dir!, runs, 'lz4');
  else if (engine === 'duckdb') await runDuckdb(workload, rows, dir!, runs);
  else if (engine === 'polars') await runPolars(workload, rows, runs);
  else if (engine === 'js') await runJs(workload, rows, runs);
  else throw new Error(`unknown engine ${engine}`);
}
