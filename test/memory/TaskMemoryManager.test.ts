import { describe, expect, test } from 'vitest';
import {
  InvalidArgumentError,
  InvalidPageStateError,
  OutOfMemoryError,
  PageTableFullError,
  SpillAcquiredMemoryError,
  TooLargePageError,
} from '../../src/errors.js';
import { MemoryConsumer } from '../../src/memory/MemoryConsumer.js';
import {
  FREED_IN_ALLOCATOR_PAGE_NUMBER,
  NO_PAGE_NUMBER,
  nativeAllocator,
} from '../../src/memory/MemoryBlock.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { MAXIMUM_PAGE_SIZE_BYTES, PAGE_TABLE_SIZE, TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { addon } from '../../src/native/addon.js';
import { track } from '../support/leaks.js';
import { TestMemoryConsumer } from '../support/TestMemoryConsumer.js';
import { TestMemoryManager } from '../support/TestMemoryManager.js';
import { unified } from './helpers.js';

/** Setup T(available): Spark's TestMemoryManager under one task. */
function t(available = 100): { mm: TestMemoryManager; tmm: TaskMemoryManager } {
  const mm = track(new TestMemoryManager(available));
  return { mm, tmm: new TaskMemoryManager(mm, 0) };
}

describe('TaskMemoryManager over the unified manager', () => {
  test('AC-MEM-10 single task', async () => {
    const { mm } = unified(MemoryMode.OFF_HEAP);
    const tmm = new TaskMemoryManager(mm, 0);
    const c = new TestMemoryConsumer(tmm);
    const asked = [100, 400, 400, 200, 100, 100];
    const got: number[] = [];
    for (const n of asked) got.push(await tmm.acquireExecutionMemory(n, c));
    expect(got).toEqual([100, 400, 400, 100, 0, 0]);
    tmm.releaseExecutionMemory(500, c);
    expect(await tmm.acquireExecutionMemory(300, c)).toBe(300);
    expect(await tmm.acquireExecutionMemory(300, c)).toBe(200);
    tmm.cleanUpAllAllocatedMemory();
    expect(await tmm.acquireExecutionMemory(1000, c)).toBe(1000);
    expect(await tmm.acquireExecutionMemory(100, c)).toBe(0);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(1000);
  });

  test('AC-MEM-15 off-heap execution limit', async () => {
    const { mm } = unified(MemoryMode.OFF_HEAP, 1000, { otherModeTotal: 0 });
    const tmm = new TaskMemoryManager(mm, 0);
    const c = new TestMemoryConsumer(tmm, MemoryMode.OFF_HEAP);
    expect(await tmm.acquireExecutionMemory(1000, c)).toBe(1000);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(1000);
    expect(await tmm.acquireExecutionMemory(300, c)).toBe(0);
    tmm.releaseExecutionMemory(500, c);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(500);
    tmm.releaseExecutionMemory(500, c);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(0);
  });

  test('pages are accounted exactly: native live bytes equal the task’s execution memory', async () => {
    const { mm } = unified(MemoryMode.OFF_HEAP, 10 * 2 ** 20);
    const tmm = new TaskMemoryManager(mm, 0);
    const c = new TestMemoryConsumer(tmm, MemoryMode.OFF_HEAP, 4096);
    const before = nativeAllocator.stats().liveBytes;
    const pages = [await c.page(100), await c.page(5000), await c.array(1000)];
    expect(pages.map((p) => p.size)).toEqual([4096, 5000, 8000]);
    expect(nativeAllocator.stats().liveBytes - before).toBe(17096);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(17096);
    expect(c.used).toBe(17096);
    expect(tmm.livePages).toBe(3);
    c.releasePage(pages[1]!);
    expect(nativeAllocator.stats().liveBytes - before).toBe(12096);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(12096);
    await c.spillAll();
    expect(tmm.livePages).toBe(0);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('TaskMemoryManager pages', () => {
  test('AC-TMM-01 leak detection', async () => {
    const { tmm } = t(Number.MAX_SAFE_INTEGER);
    const c = new TestMemoryConsumer(tmm);
    const page = await tmm.allocatePage(4096, c);
    expect(page).not.toBeNull();
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(4096);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(4096);
    expect(page!.pageNumber).toBe(FREED_IN_ALLOCATOR_PAGE_NUMBER);
  });

  test('AC-TMM-02 address round trip (off-heap) and static encode', async () => {
    const { tmm } = t(Number.MAX_SAFE_INTEGER);
    const c = new TestMemoryConsumer(tmm);
    const page = (await tmm.allocatePage(256, c))!;
    const offset = (1n << 51n) + 10n;
    const address = tmm.encodePageNumberAndOffset(page, offset);
    expect(tmm.getPage(address)).toBeNull();
    expect(tmm.getOffsetInPage(address)).toBe(offset);
    const inside = tmm.encodePageNumberAndOffset(page, page.baseAddress + 64n);
    expect(TaskMemoryManager.decodePageNumber(inside)).toBe(page.pageNumber);
    expect(tmm.getOffsetInPage(inside)).toBe(page.baseAddress + 64n);
    expect(TaskMemoryManager.encodePageNumberAndOffset(1, 42n)).toBe(2_251_799_813_685_290n);
    expect(TaskMemoryManager.decodePageNumber(2_251_799_813_685_290n)).toBe(1);
    expect(TaskMemoryManager.decodeOffset(2_251_799_813_685_290n)).toBe(42n);
    tmm.freePage(page, c);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('addresses round trip at the bit limits (bigint, top bit set)', () => {
    const mask51 = (1n << 51n) - 1n;
    for (const pageNumber of [0, 1, 4096, 8191]) {
      for (const offset of [0n, 1n, (1n << 32n) + 5n, mask51]) {
        const address = TaskMemoryManager.encodePageNumberAndOffset(pageNumber, offset);
        expect(address).toBe((BigInt(pageNumber) << 51n) | offset);
        expect(TaskMemoryManager.decodePageNumber(address)).toBe(pageNumber);
        expect(TaskMemoryManager.decodeOffset(address)).toBe(offset);
      }
    }
    expect(() => TaskMemoryManager.encodePageNumberAndOffset(8192, 0n)).toThrow(InvalidArgumentError);
    expect(() => TaskMemoryManager.decodePageNumber(-1n)).toThrow(InvalidArgumentError);
  });

  test('AC-TMM-03 page-number sentinels', async () => {
    const { tmm } = t(Number.MAX_SAFE_INTEGER);
    const c = new TestMemoryConsumer(tmm);
    const page = (await tmm.allocatePage(1024, c))!;
    expect(() => nativeAllocator.free(page)).toThrow(InvalidPageStateError);
    tmm.freePage(page, c);
    expect(page.pageNumber).toBe(FREED_IN_ALLOCATOR_PAGE_NUMBER);
    expect(() => tmm.freePage(page, c)).toThrow(InvalidPageStateError);

    const direct = nativeAllocator.allocate(64)!;
    expect(direct.pageNumber).toBe(NO_PAGE_NUMBER);
    expect(() => tmm.freePage(direct, c)).toThrow(/wasn't allocated with allocatePage/);
    nativeAllocator.free(direct);
    expect(direct.pageNumber).toBe(FREED_IN_ALLOCATOR_PAGE_NUMBER);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('a page of another task is rejected and stays live', async () => {
    const mm = track(new TestMemoryManager());
    const mine = new TaskMemoryManager(mm, 1);
    const theirs = new TaskMemoryManager(mm, 2);
    const c1 = new TestMemoryConsumer(mine);
    const c2 = new TestMemoryConsumer(theirs);
    (await mine.allocatePage(64, c1))!;
    const foreign = (await theirs.allocatePage(64, c2))!;
    expect(() => mine.freePage(foreign, c1)).toThrow(/another task/);
    expect(foreign.pageNumber).toBe(0);
    expect(mine.cleanUpAllAllocatedMemory()).toBe(64);
    expect(theirs.cleanUpAllAllocatedMemory()).toBe(64);
  });

  test('AC-TMM-04 a too-large page throws before any memory is acquired', async () => {
    const { tmm } = t(Number.MAX_SAFE_INTEGER);
    const c = new TestMemoryConsumer(tmm);
    expect(MAXIMUM_PAGE_SIZE_BYTES).toBe(17_179_869_176);
    await expect(tmm.allocatePage(17_179_869_177, c)).rejects.toThrow(TooLargePageError);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(0);
  });

  test('AC-TMM-04 the 8193rd page fails and releases what it acquired', async () => {
    const { tmm } = t(Number.MAX_SAFE_INTEGER);
    const c = new TestMemoryConsumer(tmm);
    for (let i = 0; i < PAGE_TABLE_SIZE; i++) await tmm.allocatePage(8, c);
    expect(tmm.livePages).toBe(8192);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(8 * 8192);
    await expect(tmm.allocatePage(8, c)).rejects.toThrow(PageTableFullError);
    await expect(tmm.allocatePage(8, c)).rejects.toThrow('Have already allocated a maximum of 8192 pages');
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(8 * 8192);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(8 * 8192);
  });

  test('a page the system cannot back keeps its grant, spills, and retries', async () => {
    const { tmm } = t(1000);
    const other = new TestMemoryConsumer(tmm);
    await other.use(600);
    const c = new TestMemoryConsumer(tmm);
    addon.allocatorFailNextAllocations(1);
    // First grant of 400 cannot be backed; it stays counted, the retry spills `other` and
    // gets a real page.
    const page = await tmm.allocatePage(400, c);
    expect(page).not.toBeNull();
    expect(other.spillRequests.length).toBe(1);
    expect(other.used).toBe(0);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(400 + page!.size);
    // Cleanup releases the unbacked grant first (it is not a consumer's leak), then reports
    // the page that was never freed.
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(page!.size);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(0);
  });

  test('pages must be of the Tungsten memory mode', async () => {
    const { tmm } = t();
    const onHeap = new TestMemoryConsumer(tmm, MemoryMode.ON_HEAP);
    await expect(tmm.allocatePage(10, onHeap)).rejects.toThrow(InvalidArgumentError);
  });

  test('a consumer that cannot get a page throws OutOfMemoryError listing the task’s consumers', async () => {
    const { tmm } = t(100);
    const holder = new (class Holder extends MemoryConsumer {
      async spill(): Promise<number> {
        return 0; // refuses to spill
      }
    })(tmm);
    await holder.acquireMemory(60);
    const c = new TestMemoryConsumer(tmm, MemoryMode.OFF_HEAP, 64);
    const error = await c.page(64).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutOfMemoryError);
    const oom = error as OutOfMemoryError;
    expect(oom.code).toBe('OUT_OF_MEMORY');
    expect(oom.message).toMatch(/^Unable to acquire 64 bytes of memory, got 40/);
    expect(oom.message).toContain(`Acquired by ${holder.name} (OFF_HEAP): 60 B`);
    expect(oom.consumers).toContainEqual({ name: holder.name, mode: 'OFF_HEAP', used: 60 });
    expect(tmm.livePages).toBe(0);
    holder.freeMemory(60);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});

describe('TaskMemoryManager spilling', () => {
  test('AC-TMM-05 cooperative spilling', async () => {
    const { tmm } = t(100);
    const c1 = new TestMemoryConsumer(tmm);
    const c2 = new TestMemoryConsumer(tmm);
    const state = (): [number, number] => [c1.used, c2.used];
    await c1.use(100);
    expect(state()).toEqual([100, 0]);
    await c2.use(100);
    expect(state()).toEqual([0, 100]);
    await c1.use(100);
    expect(state()).toEqual([100, 0]);
    await c1.use(50);
    expect(state()).toEqual([50, 0]);
    await c2.use(50);
    expect(state()).toEqual([50, 50]);
    await c1.use(100);
    expect(state()).toEqual([100, 0]);
    c1.free(20);
    await c2.use(10);
    expect(state()).toEqual([80, 10]);
    await c2.use(100);
    expect(state()).toEqual([0, 100]);
    c2.free(100);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-TMM-07 self-spill has the lowest priority', async () => {
    const { tmm } = t(100);
    const c1 = new TestMemoryConsumer(tmm);
    const c2 = new TestMemoryConsumer(tmm);
    const c3 = new TestMemoryConsumer(tmm);
    const state = (): number[] => [c1.used, c2.used, c3.used];
    await c1.use(50);
    await c2.use(40);
    await c3.use(10);
    await c1.use(50);
    expect(state()).toEqual([100, 0, 0]);
    await c1.use(50);
    expect(state()).toEqual([50, 0, 0]);
    await c2.use(10);
    await c1.use(60);
    expect(state()).toEqual([60, 0, 0]);
    c1.free(60);
    await c1.use(50);
    await c2.use(40);
    await c3.use(10);
    await c3.use(50);
    expect(state()).toEqual([0, 40, 60]);
    c2.free(40);
    c3.free(60);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('AC-TMM-09 modes are isolated', async () => {
    const { tmm } = t(100);
    const c1 = new TestMemoryConsumer(tmm, MemoryMode.ON_HEAP);
    const c2 = new TestMemoryConsumer(tmm, MemoryMode.OFF_HEAP);
    await c1.use(80);
    expect(c1.used).toBe(80);
    await c2.use(80);
    expect([c1.used, c2.used]).toEqual([80, 20]);
    await c2.use(10);
    expect([c1.used, c2.used]).toEqual([80, 10]);
    expect(c1.spillRequests).toEqual([]);
    c1.free(80);
    c2.free(10);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });

  test('the smallest consumer that covers the shortfall is spilled, with the shortfall as size', async () => {
    const { tmm } = t(100);
    const big = new TestMemoryConsumer(tmm);
    const fits = new TestMemoryConsumer(tmm);
    const small = new TestMemoryConsumer(tmm);
    await big.use(50);
    await fits.use(30);
    await small.use(20);
    const requester = new TestMemoryConsumer(tmm);
    await requester.use(25);
    expect([big.used, fits.used, small.used, requester.used]).toEqual([50, 0, 20, 25]);
    expect(fits.spillRequests).toEqual([25]);
    expect(big.spillRequests).toEqual([]);
    expect(small.spillRequests).toEqual([]);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(95);
  });

  test('a consumer that releases nothing leaves the loop; the request may end short', async () => {
    const { tmm } = t(100);
    let asked = 0;
    const stubborn = new (class extends MemoryConsumer {
      async spill(): Promise<number> {
        asked += 1;
        return 0;
      }
    })(tmm);
    await stubborn.acquireMemory(70);
    const c = new TestMemoryConsumer(tmm);
    expect(await tmm.acquireExecutionMemory(50, c)).toBe(30);
    expect(asked).toBe(1);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(100);
  });

  test('a spill() that acquires memory is refused with SPILL_ACQUIRED_MEMORY', async () => {
    const { tmm } = t(100);
    const greedy = new (class extends MemoryConsumer {
      async spill(): Promise<number> {
        await this.acquireMemory(1);
        return 0;
      }
    })(tmm);
    await greedy.acquireMemory(100);
    const c = new TestMemoryConsumer(tmm);
    const error = await tmm.acquireExecutionMemory(10, c).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpillAcquiredMemoryError);
    expect((error as SpillAcquiredMemoryError).code).toBe('SPILL_ACQUIRED_MEMORY');
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(100);
  });

  test('a spill that fails with a plain error becomes SPILL_FAILED naming the consumer', async () => {
    const { tmm } = t(100);
    const broken = new (class Broken extends MemoryConsumer {
      async spill(): Promise<number> {
        throw new Error('ENOSPC: no space left on device');
      }
    })(tmm);
    await broken.acquireMemory(100);
    const c = new TestMemoryConsumer(tmm);
    const error = (await tmm.acquireExecutionMemory(10, c).catch((e: unknown) => e)) as OutOfMemoryError;
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect(error.code).toBe('SPILL_FAILED');
    expect(error.message).toBe(`error while calling spill() on ${broken.name} : ENOSPC: no space left on device`);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(100);
  });
});

describe('TaskMemoryManager failure paths', () => {
  test('a grant taken before a failing spill is released, not leaked', async () => {
    const { tmm } = t(100);
    const broken = new (class extends MemoryConsumer {
      async spill(): Promise<number> {
        throw new Error('disk on fire');
      }
    })(tmm);
    await broken.acquireMemory(60);
    const c = new TestMemoryConsumer(tmm);
    // 40 are granted at once, then the spill of `broken` fails: those 40 must come back.
    await expect(tmm.acquireExecutionMemory(100, c)).rejects.toThrow(OutOfMemoryError);
    expect(tmm.getMemoryConsumptionForThisTask()).toBe(60);
    broken.freeMemory(60);
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
  });
});
