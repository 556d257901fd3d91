/**
 * The `tungsten` command as a user runs it: `node bin/tungsten.js …` in a child process (the
 * compiled dist/, which `npm test` builds first). Outputs are checked against the JavaScript
 * references; spill and shuffle files go to the shared scratch folder, which the shared
 * afterEach requires empty, so a command that leaves files behind fails here.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDuckdb } from '../../src/cli/duckdbPeer.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { registerLz4 } from '../../src/storage/serialization.js';
import { scratchDir } from '../support/leaks.js';
import { referenceAggregate } from '../support/referenceAggregate.js';
import { canonical, referenceSort, rowsOf } from '../support/referenceSort.js';
import { expectSameGroups } from '../api/helpers.js';

const bin = resolve(import.meta.dirname, '..', '..', 'bin', 'tungsten.js');
const work = mkdtempSync(join(tmpdir(), 'tungsten-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
registerLz4();

function tungsten(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, CI: process.env.CI ?? '' } });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

const readIpc = (path: string) => tableFromIPC(readFileSync(path));

describe('tungsten command', () => {
  it('gen then sort --by key:desc under a 4m budget with 2 cores: the reference order, spills reported (seed 7)', () => {
    const data = join(work, 'kp.arrows');
    expect(tungsten('gen', '--rows', '300000', '--seed', '7', '--format', 'stream', '--out', data, '--quiet').status).toBe(0);
    const out = join(work, 'sorted.arrow');
    const run = tungsten('sort', '--in', data, '--out', out, '--by', 'key:desc', '--memory', '4m', '--cores', '2', '--partitions', '3', '--tmp-dir', scratchDir, '--json');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout) as { rows: number; spillCount: number; diskBytesSpilled: number };
    expect(summary.rows).toBe(300_000);
    expect(summary.spillCount).toBeGreaterThan(0);
    expect(summary.diskBytesSpilled).toBeGreaterThan(0);
    const input = readIpc(data).batches;
    expect(canonical(rowsOf(readIpc(out).batches))).toEqual(canonical(referenceSort(input, [{ column: 'key', descending: true, nullsFirst: false }])));
    expect(run.stderr).toMatch(/sort: 300,000 rows/);
  });

  it('gen --groups then agg: the reference groups (seed 9), and --quiet says nothing', () => {
    const data = join(work, 'groups.arrow');
    expect(tungsten('gen', '--rows', '200000', '--groups', '5000', '--seed', '9', '--out', data, '--quiet').status).toBe(0);
    const out = join(work, 'agg.arrow');
    const run = tungsten('agg', '--in', data, '--out', out, '--group-by', 'g', '--agg', 'count(*),sum(v),min(v),max(v)', '--memory', '8m', '--cores', '2', '--partitions', '4', '--tmp-dir', scratchDir, '--quiet');
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    const input = readIpc(data).batches;
    const expected = referenceAggregate(input, ['g'], [{ fn: 'count' }, { fn: 'sum', column: 'v' }, { fn: 'min', column: 'v' }, { fn: 'max', column: 'v' }]);
    expectSameGroups(readIpc(out).batches, expected, 1, 'agg seed 9');
  });

  it('bad usage exits 2 with one line and the help, never a stack trace', () => {
    const data = join(work, 'small.arrow');
    expect(tungsten('gen', '--rows', '1000', '--out', data, '--quiet').status).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['sort', '--in', data, '--out', join(work, 'x.arrow'), '--by', 'key', '--bogus'], /unknown option '--bogus'/],
      [['sort', '--in', join(work, 'missing.arrow'), '--out', join(work, 'x.arrow'), '--by', 'key'], /no such file: .*missing\.arrow/],
      [['sort', '--in', data, '--out', join(work, 'x.arrow'), '--by', 'key', '--memory', 'lots'], /--memory: "lots" is not a size/],
      [['sort', '--in', data, '--out', join(work, 'x.arrow'), '--by', 'nope', '--tmp-dir', scratchDir], /column "nope" does not exist/],
      [['agg', '--in', data, '--out', join(work, 'x.arrow'), '--group-by', 'key', '--agg', 'median(v)'], /--agg: cannot read the aggregate "median\(v\)"/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const run = tungsten(...args);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr.split('\n')[0], args.join(' ')).toMatch(message);
      expect(run.stderr, args.join(' ')).toMatch(/Usage: tungsten/);
      expect(run.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  });

  it('without --partitions a job has one shuffle partition per 64 MiB of input, at least one per core', () => {
    // 400 K rows (6.4 MB): three partitions of ~2 MB each, which coalescing keeps apart (its
    // target is total ÷ cores, and no two of them fit in it).
    const data = join(work, 'small.arrow');
    const log = join(work, 'small-events.jsonl');
    expect(tungsten('gen', '--rows', '400000', '--out', data, '--quiet').status).toBe(0);
    const run = tungsten('sort', '--in', data, '--out', join(work, 'small-sorted.arrow'), '--by', 'key', '--cores', '3', '--tmp-dir', scratchDir, '--event-log', log, '--quiet');
    expect(run.status, run.stderr).toBe(0);
    const stages = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { Event: string; name?: string; numTasks?: number });
    const resultStages = stages.filter((e) => e.Event === 'StageSubmitted' && e.name?.startsWith('result'));
    expect(resultStages.at(-1)!.numTasks).toBe(3);
  });

  it('on a terminal the progress is a bar per stage, redrawn in place, ending at all tasks done', () => {
    // script(1) (util-linux, on every Debian) runs the command on a pseudo-terminal and copies
    // what it draws to our stdout.
    const data = join(work, 'tty.arrow');
    expect(tungsten('gen', '--rows', '200000', '--out', data, '--quiet').status).toBe(0);
    const command = [process.execPath, bin, 'sort', '--in', data, '--out', join(work, 'tty-sorted.arrow'), '--by', 'key', '--memory', '4m', '--cores', '2', '--partitions', '3', '--tmp-dir', scratchDir];
    const run = spawnSync('script', ['-qefc', command.map((arg) => `'${arg}'`).join(' '), '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '160' } });
    expect(run.status, run.stderr).toBe(0);
    const screen = run.stdout;
    expect(screen).toContain('\u001b[?25l'); // cli-progress hides the cursor while it draws
    // Every line fits 80 columns, so the terminal's width never cuts the rate or the spills off.
    expect(screen).toMatch(/Stage \d+ result +\[█+\] 3\+0\/3 \| [\d.]+[KMG]? rows\/s \| [\d.]+ (B|KiB|MiB) spilled/);
    expect(screen).toMatch(/Stage \d+ map \d+ +\[█+\] 2\+0\/2 \|/);
    expect(screen).toMatch(/sort: 200,000 rows → /);
  });

  it("a job's peak RSS is its own, not its parent's: a child of a 400 MB process reports less", () => {
    const data = join(work, 'rss.arrow');
    expect(tungsten('gen', '--rows', '20000', '--out', data, '--quiet').status).toBe(0);
    // The parent fills 400 MB, then runs the job (as the spill lab runs each budget).
    const parent = `const big = Buffer.alloc(400 * 2 ** 20, 1);
      const { spawnSync } = require('node:child_process');
      const run = spawnSync(process.execPath, ${JSON.stringify([bin, 'sort', '--in', data, '--out', join(work, 'rss-sorted.arrow'), '--by', 'key', '--tmp-dir', scratchDir, '--json', '--quiet'])}, { encoding: 'utf8' });
      process.stdout.write(run.stdout + String(big[0]));`;
    const run = spawnSync(process.execPath, ['-e', parent], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().slice(0, -1)) as { peakRssBytes: number };
    expect(summary.peakRssBytes).toBeGreaterThan(20 * 2 ** 20);
    expect(summary.peakRssBytes).toBeLessThan(300 * 2 ** 20);
  });

  it('--help of every command shows examples', () => {
    for (const command of ['gen', 'sort', 'agg', 'report', 'bench spill']) {
      const run = tungsten(...command.split(' '), '--help');
      expect(run.status, command).toBe(0);
      expect(run.stdout, command).toMatch(/Examples?:\n {2}tungsten /);
    }
  });

  it('report renders an event log: memory, timeline and stage table as inline SVG, no script', () => {
    const data = join(work, 'r.arrow');
    const log = join(work, 'events.jsonl');
    expect(tungsten('gen', '--rows', '100000', '--out', data, '--quiet').status).toBe(0);
    expect(tungsten('sort', '--in', data, '--out', join(work, 'r-sorted.arrow'), '--by', 'key', '--memory', '4m', '--cores', '2', '--partitions', '2', '--tmp-dir', scratchDir, '--event-log', log, '--quiet').status).toBe(0);
    const html = join(work, 'report.html');
    const run = tungsten('report', log, '--out', html, '--json');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ command: 'report', jobs: 2 });
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<svg/g)?.length).toBeGreaterThanOrEqual(2);
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(page).toMatch(/Memory bytes spilled/);
    writeFileSync(join(work, 'bad.jsonl'), '{"Event":"JobStart","time":1}\nnot json\n');
    const bad = tungsten('report', join(work, 'bad.jsonl'), '--out', html);
    expect(bad.status).toBe(2);
    expect(bad.stderr.split('\n')[0]).toMatch(/line 2: not JSON/);
  });

  it('bench spill runs each budget in its own process and charts time, RSS and spills against the budget', () => {
    const html = join(work, 'spill.html');
    const run = tungsten('bench', 'spill', '--workload', 'S2', '--rows', '200000', '--memory', '3m,64m', '--cores', '2', '--report', html, '--data-dir', work, '--json', '--quiet');
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { points: Array<{ budgetBytes: number; seconds: number | null; peakRssBytes: number; spillCount: number }> };
    expect(result.points.map((p) => p.budgetBytes)).toEqual([3 * 2 ** 20, 64 * 2 ** 20]);
    for (const point of result.points) {
      expect(point.seconds).toBeGreaterThan(0);
      expect(point.peakRssBytes).toBeGreaterThan(0);
    }
    expect(result.points[0]!.spillCount).toBeGreaterThan(result.points[1]!.spillCount);
    expect(readFileSync(html, 'utf8').match(/<svg/g)?.length).toBe(4);
  });
  // DuckDB is installed into bench/peers (.ci/run does it; npm run bench:* does it on demand).
  const duckdbMissing = (() => {
    try {
      createRequire(resolve(import.meta.dirname, '..', '..', 'bench', 'peers', 'package.json')).resolve('@duckdb/node-api');
      return false;
    } catch {
      return true;
    }
  })();
  if (duckdbMissing && !process.env.CI) console.warn('skipping the spill lab peer test: @duckdb/node-api is not installed in bench/peers (npm install --prefix bench/peers)');

  it.skipIf(duckdbMissing && !process.env.CI)('bench spill --peers duckdb runs DuckDB at each budget in its own process, on the same rows', () => {
    const html = join(work, 'spill-peers.html');
    const run = tungsten('bench', 'spill', '--workload', 'S1', '--rows', '50000', '--memory', '16m,64m', '--peers', 'duckdb', '--report', html, '--data-dir', work, '--json', '--quiet');
    expect(run.status, run.stderr).toBe(0);
    const { points } = JSON.parse(run.stdout) as { points: Array<{ engine: string; budgetBytes: number; seconds: number | null; peakRssBytes: number; outputRows: number; error?: string }> };
    expect(points.map((p) => `${p.engine}@${p.budgetBytes / 2 ** 20}`)).toEqual(['tungsten@16', 'duckdb@16', 'tungsten@64', 'duckdb@64']);
    for (const point of points) {
      expect(point.error, point.engine).toBeUndefined();
      expect(point.seconds).toBeGreaterThan(0);
      expect(point.peakRssBytes).toBeGreaterThan(0);
      expect(point.outputRows, point.engine).toBe(50_000);
    }
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/<td>duckdb<\/td>/);
  });

  it('--peers names only engines it can run, and says how to install DuckDB when it is missing', async () => {
    const run = tungsten('bench', 'spill', '--workload', 'S1', '--memory', '16m', '--peers', 'spark', '--report', join(work, 'x.html'));
    expect(run.status).toBe(2);
    expect(run.stderr.split('\n')[0]).toMatch(/unknown peer "spark"/);
    const error = await loadDuckdb([join(work, 'nowhere', 'package.json')]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/npm install @duckdb\/node-api/);
  });
});
