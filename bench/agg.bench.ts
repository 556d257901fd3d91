/**
 * A1 and A2 of WORKLOADS.md: one aggregation operator (one task, one core) against DuckDB
 * (threads = 1, the same memory limit) and Polars (one thread, in memory), in the same run.
 * Every engine runs in a fresh process so its peak RSS is its own. Prints a table and writes
 * build/bench/agg-results.json. Quote medians and ratios: these machines are noisy.
 *
 *   npm run bench:agg -- [--workloads A1,A2] [--rows N] [--runs 3] [--engines tungsten,duckdb,polars]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { installPeers, option, root, runWorker } from './support/harness.js';
import { AGG_WORKLOADS } from './support/workloads.js';

const workloadIds = option('workloads', 'A1,A2').split(',');
const runs = Number(option('runs', '3'));
const engines = option('engines', 'tungsten,duckdb,polars').split(',');
const rowsOverride = option('rows', '');
const dataDir = option('data', join(tmpdir(), 'tungsten-bench'));
mkdirSync(dataDir, { recursive: true });
installPeers(engines);

const results: Record<string, unknown>[] = [];
for (const id of workloadIds) {
  const workload = AGG_WORKLOADS.find((w) => w.id === id);
  if (!workload) throw new Error(`unknown workload ${id}`);
  const rows = rowsOverride ? Number(rowsOverride) : workload.rows;
  process.stderr.write(`${id}: preparing ${rows} rows in ${dataDir}\n`);
  runWorker('aggWorker', ['prepare', id, String(rows), dataDir]);
  const byEngine: Record<string, Record<string, unknown>> = {};
  for (const engine of engines) {
    process.stderr.write(`${id}: ${engine}\n`);
    byEngine[engine] = runWorker('aggWorker', ['run', engine, id, String(rows), dataDir, String(runs)]);
  }
  const groupCounts = new Set(Object.values(byEngine).map((r) => r.groups));
  if (groupCounts.size > 1) throw new Error(`${id}: the engines disagree on the number of groups: ${[...groupCounts].join(', ')}`);
  const ours = byEngine.tungsten?.medianSeconds as number | undefined;
  const row: Record<string, unknown> = { workload: id, rows, groups: [...groupCounts][0], budget: workload.budget };
  for (const [engine, r] of Object.entries(byEngine)) {
    const seconds = r.medianSeconds as number;
    row[`${engine} M rows/s`] = Number((rows / seconds / 1e6).toFixed(2));
    row[`${engine} peak RSS MB`] = Math.round((r.peakRssBytes as number) / 2 ** 20);
    if (engine !== 'tungsten' && ours !== undefined) row[`${engine}/tungsten`] = Number((seconds / ours).toFixed(2));
  }
  const metrics = byEngine.tungsten?.metrics as Record<string, number> | undefined;
  if (metrics) {
    row.spills = metrics.spillCount;
    row['disk MB spilled'] = Math.round(metrics.diskBytesSpilled! / 2 ** 20);
    row['merge passes'] = metrics.mergePasses;
    row['probes/row'] = Number(metrics.hashProbesPerRow!.toFixed(2));
  }
  results.push({ ...row, raw: byEngine });
  console.table([row]);
}
const out = join(root, 'build', 'bench', 'agg-results.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), runs, results }, null, 2));
process.stderr.write(`wrote ${out}\n`);
