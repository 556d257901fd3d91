import { describe, expect, test } from 'vitest';
import { TaskKilledError } from '../../src/errors.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';
import { TestMemoryConsumer } from '../support/TestMemoryConsumer.js';
import { settle, unified } from './helpers.js';

const OFF = MemoryMode.OFF_HEAP;

/** Tracks whether a promise has settled, without awaiting it. */
function watch<T>(promise: Promise<T>): { done: () => boolean; promise: Promise<T> } {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  return { done: () => done, promise: watched };
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('execution memory fairness between tasks', () => {
  test('AC-MEM-12 a task blocks until it can hold 1/2N', async () => {
    const { mm } = unified(OFF);
    expect(await mm.acquireExecutionMemory(1000, 1, OFF)).toBe(1000);
    const t2 = watch(mm.acquireExecutionMemory(250, 2, OFF));
    await settle();
    expect(t2.done()).toBe(false);
    expect(mm.numWaitingTasks(OFF)).toBe(1);
    mm.releaseExecutionMemory(250, 1, OFF);
    expect(await t2.promise).toBe(250);
    // t2 holds its minimum share; the maximum is 500 but nothing is free: 0 at once.
    expect(await mm.acquireExecutionMemory(100, 2, OFF)).toBe(0);
    mm.releaseAllExecutionMemoryForTask(1);
    mm.releaseAllExecutionMemoryForTask(2);
  });

  test('AC-MEM-13 cleanup of the holder unblocks the waiter', async () => {
    const { mm } = unified(OFF);
    const tmm1 = new TaskMemoryManager(mm, 1);
    const tmm2 = new TaskMemoryManager(mm, 2);
    const c1 = new TestMemoryConsumer(tmm1);
    const c2 = new TestMemoryConsumer(tmm2);
    expect(await tmm1.acquireExecutionMemory(1000, c1)).toBe(1000);
    const t2 = watch(tmm2.acquireExecutionMemory(500, c2));
    await settle();
    expect(t2.done()).toBe(false);
    expect(tmm1.cleanUpAllAllocatedMemory()).toBe(1000);
    expect(await t2.promise).toBe(500);
    expect(await tmm2.acquireExecutionMemory(500, c2)).toBe(500);
    expect(await tmm2.acquireExecutionMemory(500, c2)).toBe(0);
    expect(tmm2.cleanUpAllAllocatedMemory()).toBe(1000);
  });

  test('a new task wakes the waiters, which re-read N and keep waiting', async () => {
    const { mm } = unified(OFF);
    expect(await mm.acquireExecutionMemory(1000, 1, OFF)).toBe(1000);
    const t2 = watch(mm.acquireExecutionMemory(300, 2, OFF));
    await settle();
    const t3 = watch(mm.acquireExecutionMemory(1, 3, OFF));
    await settle();
    expect([t2.done(), t3.done()]).toEqual([false, false]);
    expect(mm.numWaitingTasks(OFF)).toBe(2);
    // With N = 3: max per task ⌊1000/3⌋ = 333, so t2 gets all it asked for.
    mm.releaseExecutionMemory(600, 1, OFF);
    expect(await t2.promise).toBe(300);
    expect(await t3.promise).toBe(1);
    for (const task of [1, 2, 3]) mm.releaseAllExecutionMemoryForTask(task);
  });

  test.each(permutations([2, 3, 4]))('waiters are served in the order they arrived: %j', async (...order) => {
    const { mm } = unified(OFF);
    expect(await mm.acquireExecutionMemory(1000, 1, OFF)).toBe(1000);
    const waiting = new Map<number, ReturnType<typeof watch<number>>>();
    for (const task of order) {
      waiting.set(task, watch(mm.acquireExecutionMemory(200, task, OFF)));
      await settle();
    }
    expect(mm.numWaitingTasks(OFF)).toBe(3);
    // N = 4: the minimum share is ⌊1000/8⌋ = 125. Each release of 125 satisfies exactly one
    // waiter (with a partial grant of 125), the earliest arrival first.
    const served: number[] = [];
    for (let round = 0; round < 3; round++) {
      mm.releaseExecutionMemory(125, 1, OFF);
      await settle();
      for (const [task, w] of waiting) {
        if (w.done() && !served.includes(task)) {
          served.push(task);
          expect(await w.promise).toBe(125);
        }
      }
      expect(served).toEqual(order.slice(0, round + 1));
    }
    for (const task of [1, 2, 3, 4]) mm.releaseAllExecutionMemoryForTask(task);
  });

  test('a waiting task that is killed rejects with TASK_KILLED and stops waiting', async () => {
    const { mm } = unified(OFF);
    const controller = new AbortController();
    const tmm2 = new TaskMemoryManager(mm, 2, { signal: controller.signal });
    const c2 = new TestMemoryConsumer(tmm2);
    expect(await mm.acquireExecutionMemory(1000, 1, OFF)).toBe(1000);
    const t2 = watch(tmm2.acquireExecutionMemory(500, c2));
    await settle();
    expect(mm.numWaitingTasks(OFF)).toBe(1);
    controller.abort(new TaskKilledError('stage cancelled'));
    const error = await t2.promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskKilledError);
    expect(error).toMatchObject({ code: 'TASK_KILLED', reason: 'stage cancelled' });
    expect(mm.numWaitingTasks(OFF)).toBe(0);
    // The killed task's runner cleans up: it held nothing, and N drops back to 1.
    expect(tmm2.cleanUpAllAllocatedMemory()).toBe(0);
    mm.releaseExecutionMemory(500, 1, OFF);
    expect(await mm.acquireExecutionMemory(500, 1, OFF)).toBe(500);
    mm.releaseAllExecutionMemoryForTask(1);
  });

  test('an already-killed task does not wait at all', async () => {
    const { mm } = unified(OFF);
    expect(await mm.acquireExecutionMemory(1000, 1, OFF)).toBe(1000);
    const signal = AbortSignal.abort('job cancelled');
    const error = await mm.acquireExecutionMemory(10, 2, OFF, signal).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TASK_KILLED', reason: 'job cancelled' });
    mm.releaseAllExecutionMemoryForTask(1);
    mm.releaseAllExecutionMemoryForTask(2);
  });

  test('killing one waiter leaves the others waiting and served', async () => {
    const { mm } = unified(OFF);
    expect(await mm.acquireExecutionMemory(1000, 1, OFF)).toBe(1000);
    const controller = new AbortController();
    const t2 = watch(mm.acquireExecutionMemory(300, 2, OFF, controller.signal));
    const t3 = watch(mm.acquireExecutionMemory(300, 3, OFF));
    await settle();
    controller.abort();
    await expect(t2.promise).rejects.toThrow(TaskKilledError);
    mm.releaseAllExecutionMemoryForTask(2);
    expect(t3.done()).toBe(false);
    mm.releaseExecutionMemory(400, 1, OFF);
    expect(await t3.promise).toBe(300);
    for (const task of [1, 3]) mm.releaseAllExecutionMemoryForTask(task);
  });

  test('acquiring 0 bytes is a contract violation', async () => {
    const { mm } = unified(OFF);
    await expect(mm.acquireExecutionMemory(0, 1, OFF)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(mm.acquireExecutionMemory(-5, 1, OFF)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(mm.acquireExecutionMemory(1.5, 1, OFF)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
