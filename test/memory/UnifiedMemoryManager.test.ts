import { describe, expect, test } from 'vitest';
import { resolveConfig } from '../../src/config/options.js';
import { InvalidMemoryError, InternalError } from '../../src/errors.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { defaultPageSizeBytes } from '../../src/memory/MemoryManager.js';
import {
  maxOnHeapMemory,
  RESERVED_SYSTEM_MEMORY_BYTES,
  UnifiedMemoryManager,
} from '../../src/memory/UnifiedMemoryManager.js';
import { track } from '../support/leaks.js';
import { unified } from './helpers.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe.each([MemoryMode.ON_HEAP, MemoryMode.OFF_HEAP])('UnifiedMemoryManager (%s)', (mode) => {
  const storageUsed = (mm: UnifiedMemoryManager): number =>
    mode === MemoryMode.ON_HEAP ? mm.snapshot().onHeapStorage.used : mm.snapshot().offHeapStorage.used;
  const pools = (mm: UnifiedMemoryManager) =>
    mode === MemoryMode.ON_HEAP
      ? { execution: mm.snapshot().onHeapExecution, storage: mm.snapshot().onHeapStorage }
      : { execution: mm.snapshot().offHeapExecution, storage: mm.snapshot().offHeapStorage };

  test('a storage request that may not borrow execution gets only the storage pool as it is', async () => {
    const { mm } = unified(mode); // 1000 bytes, storage region 500
    // Spark's rule: storage borrows what execution does not use.
    expect(await mm.acquireUnrollMemory('lender', 700, mode)).toBe(true);
    mm.releaseUnrollMemory(700, mode);
    expect(pools(mm).storage.size).toBe(700);
    // Without borrowing: the pool's 700 free bytes, not one more, though execution has 300 free.
    expect(await mm.acquireUnrollMemory('result', 701, mode, { borrowExecution: false })).toBe(false);
    expect(await mm.acquireStorageMemory('result', 701, mode, { borrowExecution: false })).toBe(false);
    expect(pools(mm).storage.size).toBe(700);
    expect(await mm.acquireUnrollMemory('result', 700, mode, { borrowExecution: false })).toBe(true);
    expect(pools(mm).execution.size).toBe(300);
    mm.releaseUnrollMemory(700, mode);
  });

  test('AC-MEM-01 basic execution', async () => {
    const { mm, evictor } = unified(mode);
    expect(await mm.acquireExecutionMemory(10, 0, mode)).toBe(10);
    expect(await mm.acquireExecutionMemory(100, 0, mode)).toBe(100);
    expect(await mm.acquireExecutionMemory(1000, 0, mode)).toBe(890);
    expect(mm.executionMemoryUsed).toBe(1000);
    expect(await mm.acquireExecutionMemory(1, 0, mode)).toBe(0);
    mm.releaseExecutionMemory(800, 0, mode);
    expect(mm.executionMemoryUsed).toBe(200);
    expect(await mm.acquireExecutionMemory(1, 0, mode)).toBe(1);
    expect(mm.executionMemoryUsed).toBe(201);
    mm.releaseExecutionMemory(1000, 0, mode);
    expect(mm.executionMemoryUsed).toBe(0);
    expect(evictor.take()).toEqual([]);
  });

  test('AC-MEM-02 basic storage', async () => {
    const { mm, evictor } = unified(mode);
    expect(await mm.acquireStorageMemory('b1', 10, mode)).toBe(true);
    expect(await mm.acquireStorageMemory('b2', 100, mode)).toBe(true);
    expect(storageUsed(mm)).toBe(110);
    expect(evictor.take()).toEqual([]);
    expect(await mm.acquireStorageMemory('b3', 1001, mode)).toBe(false);
    expect(evictor.take()).toEqual([]);
    expect(await mm.acquireStorageMemory('b4', 1000, mode)).toBe(true);
    expect(evictor.take()).toEqual([110]);
    expect(storageUsed(mm)).toBe(1000);
    expect(await mm.acquireStorageMemory('b5', 1, mode)).toBe(true);
    expect(evictor.take()).toEqual([1]);
    mm.releaseStorageMemory(800, mode);
    expect(storageUsed(mm)).toBe(200);
    expect(await mm.acquireStorageMemory('b6', 1, mode)).toBe(true);
    expect(evictor.take()).toEqual([]);
    expect(storageUsed(mm)).toBe(201);
    mm.releaseAllStorageMemory();
    expect(storageUsed(mm)).toBe(0);
    expect(await mm.acquireStorageMemory('b7', 1, mode)).toBe(true);
    expect(storageUsed(mm)).toBe(1);
    mm.releaseStorageMemory(100, mode);
    expect(storageUsed(mm)).toBe(0);
  });

  test('AC-MEM-03 execution evicts borrowed storage only', async () => {
    const { mm, evictor } = unified(mode);
    expect(await mm.acquireStorageMemory('b1', 750, mode)).toBe(true);
    expect(evictor.take()).toEqual([]);
    expect(pools(mm).storage).toEqual({ size: 750, used: 750 });
    expect(await mm.acquireExecutionMemory(100, 0, mode)).toBe(100);
    expect(evictor.take()).toEqual([]);
    expect(await mm.acquireExecutionMemory(200, 0, mode)).toBe(200);
    expect(evictor.take()).toEqual([50]);
    expect(storageUsed(mm)).toBe(700);
    expect(mm.executionMemoryUsed).toBe(300);
    mm.releaseAllStorageMemory();
    expect(await mm.acquireStorageMemory('b2', 400, mode)).toBe(true);
    expect(evictor.take()).toEqual([]);
    expect(await mm.acquireExecutionMemory(400, 0, mode)).toBe(300);
    expect(evictor.take()).toEqual([]);
    expect(mm.executionMemoryUsed).toBe(600);
    expect(storageUsed(mm)).toBe(400);
    mm.releaseAllExecutionMemoryForTask(0);
    mm.releaseAllStorageMemory();
  });

  test('AC-MEM-05 storage never evicts execution', async () => {
    const { mm, evictor } = unified(mode);
    expect(await mm.acquireExecutionMemory(800, 0, mode)).toBe(800);
    expect(await mm.acquireStorageMemory('b1', 100, mode)).toBe(true);
    expect(await mm.acquireStorageMemory('b2', 250, mode)).toBe(false);
    expect(evictor.take()).toEqual([]);
    mm.releaseAllExecutionMemoryForTask(0);
    mm.releaseAllStorageMemory();
    expect(await mm.acquireExecutionMemory(200, 0, mode)).toBe(200);
    expect(await mm.acquireStorageMemory('b3', 750, mode)).toBe(true);
    expect(evictor.take()).toEqual([]);
    expect(await mm.acquireStorageMemory('b4', 850, mode)).toBe(false);
    expect(evictor.take()).toEqual([]);
    mm.releaseAllExecutionMemoryForTask(0);
    mm.releaseAllStorageMemory();
  });

  test('AC-MEM-08 SPARK-15260: a failing eviction leaves the pools as they were', async () => {
    const { mm, evictor } = unified(mode, 1000, { storageFraction: 0 });
    expect(await mm.acquireStorageMemory('b1', 1000, mode)).toBe(true);
    mm.releaseStorageMemory(600, mode);
    expect(pools(mm).storage).toEqual({ size: 1000, used: 400 });
    evictor.failWith = new Error('eviction failed on purpose');
    await expect(mm.acquireExecutionMemory(1000, 0, mode)).rejects.toThrow('eviction failed on purpose');
    const { execution, storage } = pools(mm);
    expect(execution.size + storage.size).toBe(1000);
    expect(storage).toEqual({ size: 1000, used: 400 });
    expect(() => mm.assertInvariants()).not.toThrow();
    mm.releaseAllStorageMemory();
    mm.releaseAllExecutionMemoryForTask(0);
  });

  test('AC-MEM-11 two tasks are capped at 1/N without blocking', async () => {
    const { mm } = unified(mode);
    const [a, b] = await Promise.all([mm.acquireExecutionMemory(500, 1, mode), mm.acquireExecutionMemory(500, 2, mode)]);
    expect([a, b]).toEqual([500, 500]);
    const [c, d] = await Promise.all([mm.acquireExecutionMemory(500, 1, mode), mm.acquireExecutionMemory(500, 2, mode)]);
    expect([c, d]).toEqual([0, 0]);
    mm.releaseAllExecutionMemoryForTask(1);
    mm.releaseAllExecutionMemoryForTask(2);
  });

  test('AC-MEM-11 variant: 250 each, then 500 each gives 250 each', async () => {
    const { mm } = unified(mode);
    expect(await Promise.all([mm.acquireExecutionMemory(250, 1, mode), mm.acquireExecutionMemory(250, 2, mode)])).toEqual([
      250, 250,
    ]);
    expect(await Promise.all([mm.acquireExecutionMemory(500, 1, mode), mm.acquireExecutionMemory(500, 2, mode)])).toEqual([
      250, 250,
    ]);
    mm.releaseAllExecutionMemoryForTask(1);
    mm.releaseAllExecutionMemoryForTask(2);
  });
});

describe('UnifiedMemoryManager sizes', () => {
  test('AC-MEM-06 reserved memory and the fraction', () => {
    const config = resolveConfig({
      'testing.memory': 1_048_576,
      'testing.reservedMemory': 307_200,
      'memory.fraction': 0.8,
    });
    expect(maxOnHeapMemory(config)).toBe(593_100);
  });

  test('AC-MEM-06 system memory below 1.5 × reserved is INVALID_DRIVER_MEMORY', () => {
    const config = resolveConfig({ 'testing.memory': 153_600, 'testing.reservedMemory': 307_200 });
    const error = catchError(() => UnifiedMemoryManager.fromConfig(config));
    expect(error).toBeInstanceOf(InvalidMemoryError);
    expect(error).toMatchObject({ code: 'INVALID_DRIVER_MEMORY', systemMemory: 153_600, minSystemMemory: 460_800 });
  });

  test('AC-MEM-06 executor memory below 1.5 × reserved is INVALID_EXECUTOR_MEMORY', () => {
    const config = resolveConfig({
      'testing.memory': 1_048_576,
      'testing.reservedMemory': 307_200,
      'spark.executor.memory': 153_600,
    });
    expect(catchError(() => UnifiedMemoryManager.fromConfig(config))).toMatchObject({
      code: 'INVALID_EXECUTOR_MEMORY',
      systemMemory: 153_600,
      minSystemMemory: 460_800,
      config: 'executor.memory',
    });
  });

  test('default reserve is 300 MiB, so the default 1 GiB executor gets (1 GiB − 300 MiB) × 0.6', () => {
    const config = resolveConfig({});
    expect(RESERVED_SYSTEM_MEMORY_BYTES).toBe(300 * MiB);
    expect(maxOnHeapMemory(config)).toBe(Math.trunc((GiB - 300 * MiB) * 0.6));
    // 450 MiB is the smallest memory accepted with the default reserve.
    expect(() => maxOnHeapMemory(resolveConfig({ 'executor.memory': '449m' }))).toThrow(InvalidMemoryError);
    expect(maxOnHeapMemory(resolveConfig({ 'executor.memory': '450m' }))).toBe(Math.trunc(150 * MiB * 0.6));
  });

  test('off-heap pools come from memory.offHeap.size and storageFraction', () => {
    const mm = track(UnifiedMemoryManager.fromConfig(resolveConfig({ 'memory.offHeap.size': '3g', 'memory.storageFraction': 0.3 })));
    const storage = Math.trunc(3 * GiB * 0.3);
    expect(mm.snapshot().offHeapStorage).toEqual({ size: storage, used: 0 });
    expect(mm.snapshot().offHeapExecution).toEqual({ size: 3 * GiB - storage, used: 0 });
  });

  test('AC-MEM-16 default page size', () => {
    expect(defaultPageSizeBytes(GiB, 8)).toBe(8_388_608);
    expect(defaultPageSizeBytes(100 * MiB, 4)).toBe(2 * MiB);
    expect(defaultPageSizeBytes(64 * MiB, 16)).toBe(MiB);
    expect(defaultPageSizeBytes(64 * GiB, 1)).toBe(64 * MiB);
  });

  test('page size derives from the off-heap execution pool at construction, or buffer.pageSize', () => {
    // 2 GiB off-heap, storage fraction 0.5: 1 GiB execution pool / 8 cores / 16 = 8 MiB.
    const computed = track(
      UnifiedMemoryManager.fromConfig(resolveConfig({ 'memory.offHeap.size': '2g', 'executor.cores': 8 })),
    );
    expect(computed.pageSizeBytes).toBe(8 * MiB);
    const explicit = track(UnifiedMemoryManager.fromConfig(resolveConfig({ 'spark.buffer.pageSize': '4m' })));
    expect(explicit.pageSizeBytes).toBe(4 * MiB);
  });

  test('exact integer arithmetic above 2^32 and near 2^53', async () => {
    // 5 PiB off-heap with fraction 0.5: pool and region sizes far above 2^32 stay exact.
    const total = 5 * 2 ** 50 + 7;
    const mm = track(
      new UnifiedMemoryManager({
        numCores: 3,
        maxHeapMemory: 0,
        onHeapStorageRegionSize: 0,
        maxOffHeapMemory: total,
        offHeapStorageRegionSize: Math.trunc(total * 0.5),
      }),
    );
    const bigGrant = 2 ** 33 + 1;
    expect(await mm.acquireExecutionMemory(bigGrant, 1, MemoryMode.OFF_HEAP)).toBe(bigGrant);
    expect(await mm.acquireExecutionMemory(1, 3, MemoryMode.OFF_HEAP)).toBe(1);
    // Three tasks: the 1/N cap is ⌊total / 3⌋, exactly, not a float rounded near 2^53.
    const cap = Number(BigInt(total) / 3n);
    expect(await mm.acquireExecutionMemory(total, 2, MemoryMode.OFF_HEAP)).toBe(cap);
    expect(mm.executionMemoryUsed).toBe(bigGrant + cap + 1);
    for (const task of [1, 2, 3]) mm.releaseAllExecutionMemoryForTask(task);
    expect(mm.executionMemoryUsed).toBe(0);
  });

  test('the invariant check catches a pool moved behind the manager’s back', () => {
    const mm = track(UnifiedMemoryManager.fromConfig(resolveConfig({})));
    // Reach into the pool as a buggy caller would.
    (mm as unknown as { offHeapStorageMemoryPool: { incrementPoolSize(n: number): void } }).offHeapStorageMemoryPool.incrementPoolSize(1);
    expect(() => mm.assertInvariants()).toThrow(InternalError);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
