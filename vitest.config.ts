import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The native addon is loaded in forked processes, never in worker threads: a crash or an
    // abort in native code then takes down one test file, not the runner.
    pool: 'forks',
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
