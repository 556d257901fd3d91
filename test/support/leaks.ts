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
import { LocalDirs } from '../../src/storage/LocalDirs.js';

const tracked = new Set<MemoryManager>();
const localDirs: LocalDirs[] = [];

/** Local directories inside the scratch folder, removed after the test. */
export function testLocalDirs(): LocalDirs {
  const dirs = new LocalDirs([scratchDir]);
  localDirs.push(dirs);
  return dirs;
}

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
  // Folders may stay (a LocalDirs keeps its layout until closed); files may not.
  const left = readdirSync(scratchDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  if (left.length > 0) problems.push(`files left in ${scratchDir}: ${left.map((f) => f.name).join(', ')}`);
  for (const dirs of localDirs.splice(0)) dirs.closeSync();
  return problems;
}

export function removeScratchDir(): void {
  rmSync(scratchDir, { recursive: true, force: true });
}
