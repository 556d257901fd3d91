// Builds native/core with its unit tests (plain cmake, no Node headers) and runs them with ctest.
//   node scripts/native-tests.mjs release    optimised, as the addon is built
//   node scripts/native-tests.mjs sanitize   Debug with AddressSanitizer + UBSan
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

//   node scripts/native-tests.mjs build-release   only build (the benchmarks use the kernel bench)
const variants = {
  release: { dir: 'build/native-tests', flags: ['-DCMAKE_BUILD_TYPE=Release'] },
  'build-release': { dir: 'build/native-tests', flags: ['-DCMAKE_BUILD_TYPE=Release'], buildOnly: true },
  sanitize: { dir: 'build/native-asan', flags: ['-DCMAKE_BUILD_TYPE=Debug', '-DTUNGSTEN_SANITIZE=ON'] },
};
const variant = variants[process.argv[2] ?? 'release'];
if (!variant) {
  console.error(`usage: native-tests.mjs ${Object.keys(variants).join('|')}`);
  process.exit(2);
}

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run('cmake', ['-S', '.', '-B', variant.dir, ...variant.flags]);
run('cmake', ['--build', variant.dir, '--parallel', String(availableParallelism())]);
if (variant.buildOnly) process.exit(0);
run('ctest', ['--test-dir', variant.dir, '--output-on-failure'], {
  ...process.env,
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
});
