/**
 * The one leak check every test shares (registered in setup.ts): after each test, no native
 * block is live, every memory manager the test created holds no execution or storage memory,
 * and the test's scratch folder is empty.
 *
 * Tests create managers through {@link track} so that the check can see them.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeAllocator } from '../../src/memory/MemoryBlock.js';
import type { MemoryManager } from '../../src/memory/MemoryManager.js';

const tracked = new Set<MemoryManager>();

export function track<M extends MemoryManager>(manager: M): M {
  tracked.add(manager);
  return manager;
}

/** A scratch folder for this test process; must be empty after every test. */
export const scratchDir = join(tmpdir(), `tungsten-test-${process.pid}`);

export function leaksAfterTest(): string[] {
  const problems: string[] = [];
  const stats = nativeAllocator.stats();
  if (stats.liveBytes !== 0 || stats.liveBlocks !== 0) {
    problems.push(`${stats.liveBlocks} native blocks (${stats.liveBytes} bytes) are still allocated`);
  }
  for (const manager of tracked) {
    if (manager.executionMemoryUsed !== 0) problems.push(`${manager.executionMemoryUsed} bytes of execution memory are still held`);
    if (manager.storageMemoryUsed !== 0) problems.push(`${manager.storageMemoryUsed} bytes of storage memory are still held`);
  }
  tracked.clear();
  mkdirSync(scratchDir, { recursive: true });
  const left = readdirSync(scratchDir);
  if (left.length > 0) problems.push(`files left in ${scratchDir}: ${left.join(', ')}`);
  return problems;
}

export function removeScratchDir(): void {
  rmSync(scratchDir, { recursive: true, force: true });
}
