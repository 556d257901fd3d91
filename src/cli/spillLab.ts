/**
 * The spill lab: one workload at several memory budgets, each run in a fresh process (the
 * `tungsten sort|agg` command itself, with --json) so that each peak RSS is that run's own.
 *
 *   1. The workload's data is generated once into the data folder (not timed).
 *   2. For each budget, smallest first: `tungsten sort|agg --memory B --json`; its summary gives
 *      time, peak RSS, spills, memory and disk bytes spilled and merge passes. A run that fails
 *      (a budget too small, say) is a row with its error, not the end of the lab.
 *   3. With --peers duckdb, DuckDB runs the same job at the same budget and cores, also in a
 *      fresh process (duckdbPeer.ts), after the input was loaded into a DuckDB file once.
 *   4. Outputs and peer spill folders are deleted after each run.
 */
import { execFile } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from '../api/Session.js';
import type { WorkloadKind } from '../api/generator.js';
import type { SpillLabPoint } from '../report/charts.js';
import { prepareDuckdbTable } from './duckdbPeer.js';

interface LabWorkload {
  readonly kind: WorkloadKind;
  readonly rows: number;
  readonly groups?: number;
  /** The command's arguments after sort|agg --in --out. */
  readonly command: readonly string[];
  /** The same job for a SQL peer, over table t. */
  readonly peerSelect: string;
}

const SORT_BY_KEY = 'SELECT * FROM t ORDER BY key';
const AGGREGATES = 'count(*),sum(v),min(v),max(v)';
const GROUP_BY_G = 'SELECT g, count(*) AS n, sum(v) AS s, min(v) AS mn, max(v) AS mx FROM t GROUP BY g';

/** The workloads of WORKLOADS.md, as the command runs them. */
export const SPILL_LAB_WORKLOADS: Readonly<Record<string, LabWorkload>> = {
  S1: { kind: 'keyPayload', rows: 20_000_000, command: ['sort', '--by', 'key'], peerSelect: SORT_BY_KEY },
  S2: { kind: 'keyPayload', rows: 50_000_000, command: ['sort', '--by', 'key'], peerSelect: SORT_BY_KEY },
  S3: { kind: 'stringKey', rows: 10_000_000, command: ['sort', '--by', 'skey'], peerSelect: 'SELECT * FROM t ORDER BY skey' },
  S4: { kind: 'records100', rows: 10_000_000, command: ['sort', '--by', 'key'], peerSelect: SORT_BY_KEY },
  A1: { kind: 'groups', rows: 20_000_000, groups: 1000, command: ['agg', '--group-by', 'g', '--agg', AGGREGATES], peerSelect: GROUP_BY_G },
  A2: { kind: 'groups', rows: 20_000_000, groups: 4_000_000, command: ['agg', '--group-by', 'g', '--agg', AGGREGATES], peerSelect: GROUP_BY_G },
};

/** The command's entry point (bin/tungsten.js), from src/cli or dist/cli alike. */
export const CLI_ENTRY = fileURLToPath(new URL('../../bin/tungsten.js', import.meta.url));

export interface SpillLabOptions {
  readonly workload: string;
  readonly rows?: number;
  readonly budgets: readonly number[];
  readonly cores: number;
  readonly dataDir: string;
  /** Peers run at each budget too, each in a fresh process. */
  readonly peers?: readonly 'duckdb'[];
  readonly log: (line: string) => void;
}

export interface SpillLabResult {
  readonly workload: string;
  readonly rows: number;
  readonly points: SpillLabPoint[];
}

export async function runSpillLab(options: SpillLabOptions): Promise<SpillLabResult> {
  const workload = SPILL_LAB_WORKLOADS[options.workload];
  if (!workload) throw new Error(`unknown workload ${options.workload}`);
  const rows = options.rows ?? workload.rows;
  const input = join(options.dataDir, `${options.workload}-${rows}.arrow`);
  if (!existsSync(input)) {
    options.log(`spill lab: generating ${rows.toLocaleString('en')} rows of ${options.workload} into ${input}`);
    const session = await Session.create({ memory: '64m', localDirs: [options.dataDir] });
    try {
      await session.generate(workload.kind, { rows, partitions: options.cores, ...(workload.groups ? { groups: workload.groups } : {}) }).writeArrow(`${input}.tmp`, { compression: 'none' });
    } finally {
      await session.close();
    }
    renameSync(`${input}.tmp`, input);
  }
  const peers = options.peers ?? [];
  const duckdbFile = join(options.dataDir, `${options.workload}-${rows}.duckdb`);
  if (peers.includes('duckdb')) {
    options.log(`spill lab: loading the input into DuckDB (${duckdbFile})`);
    await prepareDuckdbTable(input, duckdbFile);
  }
  const points: SpillLabPoint[] = [];
  /** One run in a fresh process; a failure is a point with its error, not the lab's end. */
  const measure = async (engine: string, budget: number, args: readonly string[], cleanUp: () => void): Promise<void> => {
    options.log(`spill lab: ${options.workload}, ${engine} at ${budget} bytes`);
    try {
      // Ours reports `rows`, the peer `outputRows`.
      const summary = JSON.parse(await run(args)) as Omit<SpillLabPoint, 'budgetBytes' | 'engine'> & { seconds: number; peakRssBytes: number; rows?: number };
      const { seconds, peakRssBytes, spillCount, memoryBytesSpilled, diskBytesSpilled, mergePasses } = summary;
      const outputRows = summary.rows ?? summary.outputRows;
      points.push({
        budgetBytes: budget,
        engine,
        seconds,
        peakRssBytes,
        ...(outputRows !== undefined ? { outputRows } : {}),
        ...(spillCount !== undefined ? { spillCount, memoryBytesSpilled, diskBytesSpilled, mergePasses } : {}),
      });
      options.log(`  ${seconds.toFixed(2)} s, peak RSS ${Math.round(peakRssBytes / 2 ** 20)} MiB${spillCount !== undefined ? `, ${spillCount} spills` : ''}`);
    } catch (error) {
      points.push({ budgetBytes: budget, engine, seconds: null, peakRssBytes: null, error: (error as Error).message });
      options.log(`  failed: ${(error as Error).message}`);
    } finally {
      cleanUp();
    }
  };
  const common = (budget: number): string[] => ['--memory', String(budget), '--cores', String(options.cores), '--tmp-dir', options.dataDir, '--json', '--quiet'];
  for (const budget of [...options.budgets].sort((a, b) => a - b)) {
    const out = join(options.dataDir, `out-${budget}.arrow`);
    await measure('tungsten', budget, [CLI_ENTRY, ...workload.command, '--in', input, '--out', out, ...common(budget)], () => rmSync(out, { force: true }));
    if (peers.includes('duckdb')) {
      const spillDir = join(options.dataDir, 'duckdb-tmp');
      await measure('duckdb', budget, [CLI_ENTRY, 'bench', 'peer', '--engine', 'duckdb', '--db', duckdbFile, '--select', workload.peerSelect, ...common(budget)], () => rmSync(spillDir, { recursive: true, force: true }));
    }
  }
  return { workload: options.workload, rows, points };
}

function run(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args as string[], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(stderr.trim().split('\n')[0] || error.message));
      else resolve(stdout.trim().split('\n').pop() ?? '');
    });
  });
}
