/**
 * The one leak check every test shares (registered in setup.ts): after each test, no native
 * block is live, every memory manager the test created holds no execution or storage memory,
 * no block of a tracked block info manager is locked, and the test's scratch folder is empty.
 *
 * Tests create managers through {@link track} and {@link trackLocks} so the check sees them.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeAllocator } from '../../src/memory/MemoryBlock.js';
import type { MemoryManager } from '../../src/memory/MemoryManager.js';
import type { BlockInfoManager } from '../../src/storage/BlockInfoManager.js';
import { DiskBlockManager } from '../../src/storage/DiskBlockManager.js';

const tracked = new Set<MemoryManager>();
const trackedStorage = new Set<BlockInfoManager>();
const diskBlockManagers: DiskBlockManager[] = [];

/** A disk block manager inside the scratch folder, its folders removed after the test. */
export function testDiskBlockManager(): DiskBlockManager {
  const dirs = new DiskBlockManager([scratchDir]);
  diskBlockManagers.push(dirs);
  return dirs;
}

/** Checks after the test that no task still holds a lock of this manager's blocks. */
export function trackLocks<B extends BlockInfoManager>(manager: B): B {
  trackedStorage.add(manager);
  return manager;
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
  for (const manager of trackedStorage) {
    for (const lock of manager.heldLocks()) {
      problems.push(`block ${lock.blockId.name} is still locked (writer ${lock.writer}, ${lock.readers} readers)`);
    }
  }
  trackedStorage.clear();
  mkdirSync(scratchDir, { recursive: true });
  // Folders may stay (a DiskBlockManager keeps its layout until closed); files may not.
  const left = readdirSync(scratchDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  if (left.length > 0) problems.push(`files left in ${scratchDir}: ${left.map((f) => f.name).join(', ')}`);
  for (const dirs of diskBlockManagers.splice(0)) dirs.closeSync();
  return problems;
}

export function removeScratchDir(): void {
  rmSync(scratchDir, { recursive: true, force: true });
}
