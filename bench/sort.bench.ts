/**
 * S1, S2 and S3 of WORKLOADS.md: one sorter (one task, one core) against DuckDB (threads = 1,
 * the same memory limit) and Polars (one thread, in memory), in the same run; S1 also against
 * a plain JavaScript TypedArray sort; the plain C++ LSD radix sort on one core as the ceiling.
 * Every engine runs in a fresh process so its peak RSS is its own. Prints a table and writes
 * build/bench/sort-results.json. Quote medians and ratios: these machines are noisy.
 *
 *   npm run bench:sort -- [--workloads S1,S2,S3] [--rows N] [--runs 3]
 *                         [--engines tungsten,tungsten-lz4,duckdb,polars,js]
 * tungsten-lz4 is our sorter with LZ4 spill blocks, to choose the default compression.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { installPeers, option, root, runWorker } from './support/harness.js';
import { SORT_WORKLOADS } from './support/workloads.js';

const workloadIds = option('workloads', 'S1,S2,S3').split(',');
const runs = Number(option('runs', '3'));
const engines = option('engines', 'tungsten,tungsten-lz4,duckdb,polars,js').split(',');
const rowsOverride = option('rows', '');
const dataDir = option('data', join(tmpdir(), 'tungsten-bench'));
mkdirSync(dataDir, { recursive: true });
installPeers(engines);
const worker = (args: string[]): Record<string, unknown> => runWorker('sortWorker', args);

function ceilingPairsPerSecond(pairs: number): number {
  const binary = join(root, 'build', 'native-tests', 'tungsten_sort_kernel_bench');
  execFileSync(process.execPath, [join(root, 'scripts', 'native-tests.mjs'), 'build-release'], { stdio: 'ignore' });
  const out = JSON.parse(execFileSync(binary, [String(pairs), '3'], { encoding: 'utf8' })) as Record<string, number>;
  return out.plainLsdPairsPerSecond!;
}

const results: Record<string, unknown>[] = [];
for (const id of workloadIds) {
  const workload = SORT_WORKLOADS.find((w) => w.id === id);
  if (!workload) throw new Error(`unknown workload ${id}`);
  const rows = rowsOverride ? Number(rowsOverride) : workload.rows;
  process.stderr.write(`${id}: preparing ${rows} rows in ${dataDir}\n`);
  worker(['prepare', id, String(rows), dataDir]);
  const byEngine: Record<string, Record<string, unknown>> = {};
  for (const engine of engines) {
    if (engine === 'js' && workload.kind !== 'keyPayload') continue;
    if (engine === 'tungsten-lz4' && workload.id === 'S1') continue; // S1 does not spill
    process.stderr.write(`${id}: ${engine}\n`);
    byEngine[engine] = worker(['run', engine, id, String(rows), dataDir, String(runs)]);
  }
  const ours = byEngine.tungsten?.medianSeconds as number | undefined;
  const row: Record<string, unknown> = { workload: id, rows, budget: workload.budget };
  for (const [engine, r] of Object.entries(byEngine)) {
    const seconds = r.medianSeconds as number;
    row[`${engine} rows/s`] = Math.round(rows / seconds);
    row[`${engine} peak RSS MB`] = Math.round((r.peakRssBytes as number) / 2 ** 20);
    if (engine !== 'tungsten' && ours !== undefined) row[`${engine}/tungsten`] = Number((seconds / ours).toFixed(2));
  }
  if (workload.kind === 'keyPayload') {
    const ceiling = ceilingPairsPerSecond(Math.min(rows, 20_000_000));
    row['ceiling rows/s (plain LSD, 1 core)'] = Math.round(ceiling);
  }
  const metrics = byEngine.tungsten?.metrics as Record<string, number> | undefined;
  if (metrics) {
    row.spills = metrics.spillCount;
    row['disk MB spilled'] = Math.round(metrics.diskBytesSpilled! / 2 ** 20);
    row['merge passes'] = metrics.mergePasses;
  }
  results.push({ ...row, raw: byEngine });
  console.table([row]);
}
const out = join(root, 'build', 'bench', 'sort-results.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), runs, results }, null, 2));
process.stderr.write(`wrote ${out}\n`);
