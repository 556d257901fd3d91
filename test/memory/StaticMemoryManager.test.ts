import { describe, expect, test } from 'vitest';
import { resolveConfig } from '../../src/config/options.js';
import { InvalidArgumentError, InvalidMemoryError } from '../../src/errors.js';
import { createMemoryManager } from '../../src/memory/createMemoryManager.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { StaticMemoryManager } from '../../src/memory/StaticMemoryManager.js';
import { UnifiedMemoryManager } from '../../src/memory/UnifiedMemoryManager.js';
import { FakeEvictor } from '../support/FakeEvictor.js';
import { track } from '../support/leaks.js';

const ON = MemoryMode.ON_HEAP;
const OFF = MemoryMode.OFF_HEAP;

function legacy(execution: number, storage: number, unrollFraction = 0.2) {
  const mm = track(
    new StaticMemoryManager({
      numCores: 1,
      maxOnHeapExecutionMemory: execution,
      maxOnHeapStorageMemory: storage,
      maxOffHeapMemory: 1000,
      unrollFraction,
    }),
  );
  return { mm, evictor: new FakeEvictor(mm) };
}

describe('StaticMemoryManager (legacy mode)', () => {
  test('sizes: execution = system × 0.2 × 0.8, storage = system × 0.6 × 0.9, all off-heap to execution', () => {
    const config = resolveConfig({ 'spark.memory.useLegacyMode': true, 'executor.memory': '1g', 'memory.offHeap.size': '256m' });
    const mm = track(createMemoryManager(config));
    expect(mm).toBeInstanceOf(StaticMemoryManager);
    const snapshot = mm.snapshot();
    expect(snapshot.onHeapExecution.size).toBe(Math.trunc(2 ** 30 * 0.2 * 0.8));
    expect(snapshot.onHeapStorage.size).toBe(Math.trunc(2 ** 30 * 0.6 * 0.9));
    expect(snapshot.offHeapExecution.size).toBe(256 * 2 ** 20);
    expect(snapshot.offHeapStorage.size).toBe(0);
    expect(mm.maxOffHeapStorageMemory).toBe(0);
    expect(track(createMemoryManager(resolveConfig({})))).toBeInstanceOf(UnifiedMemoryManager);
  });

  test('system memory below 32 MiB is refused', () => {
    const config = resolveConfig({ 'memory.useLegacyMode': true, 'testing.memory': 32 * 2 ** 20 - 1 });
    expect(() => StaticMemoryManager.fromConfig(config)).toThrow(InvalidMemoryError);
    expect(() => StaticMemoryManager.fromConfig(config)).toThrow(/must be at least 33554432/);
  });

  test('basic execution: no borrowing from storage', async () => {
    const { mm, evictor } = legacy(1000, 1000);
    expect(await mm.acquireExecutionMemory(10, 0, ON)).toBe(10);
    expect(await mm.acquireExecutionMemory(100, 0, ON)).toBe(100);
    expect(await mm.acquireExecutionMemory(1000, 0, ON)).toBe(890);
    expect(await mm.acquireExecutionMemory(1, 0, ON)).toBe(0);
    mm.releaseExecutionMemory(800, 0, ON);
    expect(await mm.acquireExecutionMemory(1, 0, ON)).toBe(1);
    expect(evictor.take()).toEqual([]);
    mm.releaseAllExecutionMemoryForTask(0);
  });

  test('basic storage: evicts its own blocks, never borrows', async () => {
    const { mm, evictor } = legacy(1000, 1000);
    expect(await mm.acquireStorageMemory('b1', 10, ON)).toBe(true);
    expect(await mm.acquireStorageMemory('b2', 100, ON)).toBe(true);
    expect(await mm.acquireStorageMemory('b3', 1001, ON)).toBe(false);
    expect(evictor.take()).toEqual([]);
    expect(await mm.acquireStorageMemory('b4', 1000, ON)).toBe(true);
    expect(evictor.take()).toEqual([110]);
    expect(mm.storageMemoryUsed).toBe(1000);
    mm.releaseAllStorageMemory();
  });

  test('execution and storage are isolated', async () => {
    const { mm, evictor } = legacy(200, 1000);
    expect(await mm.acquireExecutionMemory(100, 0, ON)).toBe(100);
    expect(await mm.acquireStorageMemory('b1', 1000, ON)).toBe(true);
    // Execution cannot take storage's memory, nor storage execution's.
    expect(await mm.acquireExecutionMemory(200, 0, ON)).toBe(100);
    expect(await mm.acquireStorageMemory('b2', 10, ON)).toBe(true);
    expect(evictor.take()).toEqual([10]);
    mm.releaseAllExecutionMemoryForTask(0);
    mm.releaseAllStorageMemory();
  });

  test('unrolling evicts at most maxUnroll − current unroll − free', async () => {
    const { mm, evictor } = legacy(1000, 1000, 0.4);
    expect(mm.maxUnrollMemory).toBe(400);
    expect(await mm.acquireStorageMemory('cached', 750, ON)).toBe(true);
    // free 250: may evict max(0, 400 − 0 − 250) = 150; needs 300 − 250 = 50.
    expect(await mm.acquireUnrollMemory('unroll1', 300, ON)).toBe(true);
    expect(evictor.take()).toEqual([50]);
    evictor.unrollMemory = 300;
    // free 0, 300 already unrolling: may evict 400 − 300 − 0 = 100, which is not enough.
    expect(await mm.acquireUnrollMemory('unroll2', 500, ON)).toBe(false);
    expect(evictor.take()).toEqual([100]);
    mm.releaseAllStorageMemory();
  });

  test('off-heap storage and unroll are not supported; off-heap execution is', async () => {
    const { mm } = legacy(1000, 1000);
    expect(() => mm.acquireStorageMemory('b', 1, OFF)).toThrow(InvalidArgumentError);
    expect(() => mm.acquireUnrollMemory('b', 1, OFF)).toThrow(InvalidArgumentError);
    expect(await mm.acquireExecutionMemory(1000, 0, OFF)).toBe(1000);
    mm.releaseAllExecutionMemoryForTask(0);
  });
});

describe('createMemoryManager', () => {
  test('memory.debugFill, when given, switches the process allocator', async () => {
    const { nativeAllocator } = await import('../../src/memory/MemoryBlock.js');
    const was = nativeAllocator.debugFill;
    try {
      track(createMemoryManager(resolveConfig({ 'spark.memory.debugFill': !was })));
      expect(nativeAllocator.debugFill).toBe(!was);
      track(createMemoryManager(resolveConfig({})));
      expect(nativeAllocator.debugFill).toBe(!was);
    } finally {
      nativeAllocator.debugFill = was;
    }
  });
});
