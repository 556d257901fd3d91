/**
 * The package as a user gets it: `npm pack`, then `npm install ./tungsten-*.tgz` in an empty
 * project builds the addon there, and `import … from 'tungsten'` works, with types. Slow
 * (it installs from the registry and compiles the addon), so it runs once per `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'tungsten-pack-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('the packed tarball installs into an empty project, builds the addon, and imports with types', () => {
  run('npm', ['pack', '--pack-destination', work, '--silent'], root);
  const tarball = readdirSync(work).find((f) => /^tungsten-.*\.tgz$/.test(f));
  expect(tarball).toBeDefined();

  const project = join(work, 'consumer');
  run('mkdir', ['-p', project], work);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', join(work, tarball!)], project);

  writeFileSync(
    join(project, 'main.ts'),
    [
      "import { MemoryMode, TaskMemoryManager, UnifiedMemoryManager, resolveConfig, type TungstenConfig } from 'tungsten';",
      "const config: TungstenConfig = resolveConfig({ 'spark.memory.offHeap.size': '64m' });",
      'const mm = UnifiedMemoryManager.fromConfig(config);',
      'const address: bigint = TaskMemoryManager.encodePageNumberAndOffset(1, 42n);',
      "const mode: MemoryMode = MemoryMode.OFF_HEAP;",
      'console.log(JSON.stringify({ offHeapExecution: mm.snapshot().offHeapExecution.size, address: String(address), mode }));',
    ].join('\n'),
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, outDir: 'out', types: [] },
      files: ['main.ts'],
    }),
  );
  // Type-check and compile with this repository's TypeScript against the installed types.
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project);
  const output = JSON.parse(run(process.execPath, ['out/main.js'], project)) as Record<string, unknown>;
  expect(output).toEqual({ offHeapExecution: 32 * 2 ** 20, address: '2251799813685290', mode: 'OFF_HEAP' });
}, 600_000);
