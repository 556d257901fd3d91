import { afterAll, afterEach, expect } from 'vitest';
import { leaksAfterTest, removeScratchDir } from './leaks.js';

afterEach(() => {
  expect(leaksAfterTest(), 'memory or files left behind by the test').toEqual([]);
});

afterAll(() => {
  removeScratchDir();
});
