/**
 * S1, S2, A1 and A2 of WORKLOADS.md as whole jobs through the Dataset API (a Session with
 * `cores` = 2 reading the generator's IPC file, shuffling and sorting or aggregating, every
 * output batch consumed) against DuckDB with the same threads and memory limit, in the same
 * run. Each engine runs in a fresh process so its peak RSS is its own. Reports the ratio
 * (DuckDB's time ÷ ours: above 1, we are faster), peak RSS against budget + 128 MB, and the
 * time the job machinery costs: shuffle write and read (summed over tasks) and scheduling (wall
 * time with no task running). Writes build/bench/jobs-results.json.
 *
 *   npm run bench:jobs -- [--workloads S1,S2,A1,A2] [--rows N] [--runs 3] [--cores 2]
 *                         [--partitions 8] [--engines tungsten,duckdb]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseSize } from '../src/config/size.js';
import { installPeers, option, root, runWorker } from './support/harness.js';
import { AGG_WORKLOADS, SORT_WORKLOADS } from './support/workloads.js';

const workloadIds = option('workloads', 'S1,S2,A1,A2').split(',');
const runs = option('runs', '3');
const cores = option('cores', '2');
const partitions = option('partitions', '8');
const engines = option('engines', 'tungsten,duckdb').split(',');
const rowsOverride = option('rows', '');
const dataDir = option('data', join(tmpdir(), 'tungsten-bench'));
mkdirSync(dataDir, { recursive: true });
installPeers(engines);

const results: Record<string, unknown>[] = [];
for (const id of workloadIds) {
  const workload = SORT_WORKLOADS.find((w) => w.id === id) ?? AGG_WORKLOADS.find((w) => w.id === id);
  if (!workload) throw new Error(`unknown workload ${id}`);
  const rows = rowsOverride ? Number(rowsOverride) : workload.rows;
  process.stderr.write(`${id}: preparing ${rows} rows in ${dataDir}\n`);
  runWorker(id.startsWith('S') ? 'sortWorker' : 'aggWorker', ['prepare', id, String(rows), dataDir]);
  runWorker('jobWorker', ['prepare', id, String(rows), dataDir]);
  const byEngine: Record<string, Record<string, unknown>> = {};
  for (const engine of engines) {
    process.stderr.write(`${id}: ${engine}\n`);
    byEngine[engine] = runWorker('jobWorker', ['run', engine, id, String(rows), dataDir, runs, cores, partitions]);
  }
  const budgetMB = parseSize(workload.budget) / 2 ** 20;
  const row: Record<string, unknown> = { workload: id, rows, budget: workload.budget, cores: Number(cores), partitions: Number(partitions) };
  const ours = byEngine.tungsten;
  for (const [engine, r] of Object.entries(byEngine)) {
    row[`${engine} s`] = Number((r.medianSeconds as number).toFixed(2));
    row[`${engine} peak RSS MB`] = Math.round((r.peakRssBytes as number) / 2 ** 20);
  }
  if (ours && byEngine.duckdb) row['duckdb/tungsten'] = Number(((byEngine.duckdb.medianSeconds as number) / (ours.medianSeconds as number)).toFixed(2));
  if (ours) {
    row['RSS bar MB'] = budgetMB + 128;
    const job = (ours.job as { main: { totals: Record<string, number>; schedulingMs: number } }).main;
    row['shuffle write s (tasks)'] = Number((job.totals.shuffleWriteTimeMs! / 1000).toFixed(2));
    row['shuffle read s (tasks)'] = Number((job.totals.shuffleReadTimeMs! / 1000).toFixed(2));
    row['scheduling s'] = Number((job.schedulingMs / 1000).toFixed(2));
    row.spills = job.totals.spillCount;
  }
  results.push({ ...row, raw: byEngine });
  console.table([row]);
}
const out = join(root, 'build', 'bench', 'jobs-results.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), runs: Number(runs), results }, null, 2));
process.stderr.write(`wrote ${out}\n`);
