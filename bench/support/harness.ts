/**
 * The driver side of the comparison benchmarks: command-line options, the peers installed on
 * demand, and each engine run as a worker process of its own (so that its peak RSS is its own).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The package root (this file runs from build/bench/bench/support). */
export const root = join(here, '..', '..', '..', '..');

export function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1]! : fallback;
}

/** The peers are not dependencies of the package (see bench/peers/package.json). */
export function installPeers(engines: readonly string[]): void {
  if (!engines.some((e) => e === 'duckdb' || e === 'polars')) return;
  process.stderr.write('installing the peer engines in bench/peers\n');
  execFileSync('npm', ['install', '--prefix', join(root, 'bench', 'peers'), '--no-audit', '--no-fund', '--silent'], { stdio: 'inherit' });
}

/** Runs bench/support/<script>.js with `args`; returns the JSON of its last stdout line. */
export function runWorker(script: string, args: string[]): Record<string, unknown> {
  const result = spawnSync(process.execPath, ['--expose-gc', join(here, `${script}.js`), ...args], {
    encoding: 'utf8',
    env: { ...process.env, POLARS_MAX_THREADS: '1', UV_THREADPOOL_SIZE: '4' },
    maxBuffer: 1 << 24,
  });
  if (result.status !== 0) throw new Error(`${script} ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}
