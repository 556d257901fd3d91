/**
 * Execution memory shared fairly between the tasks running at once (Spark's
 * ExecutionMemoryPool, spark-semantics §1.3).
 *
 * With N active tasks (tasks holding an entry, even of 0 bytes), a task may hold at most 1/N
 * of the largest size the pool could reach, and is guaranteed to ramp up to 1/(2N) of the
 * pool's current size before it must spill. acquireMemory(n):
 *   1. Register the task with 0 bytes if it is new, and wake every waiter: N changed.
 *   2. Let the manager grow the pool by reclaiming storage (`maybeGrowPool`), on every attempt,
 *      because storage may have taken memory since the last one.
 *   3. maxPerTask = ⌊maxPoolSize / N⌋, minPerTask = ⌊poolSize / 2N⌋;
 *      grant min(n, maxPerTask − held, free).
 *   4. If that is short of n and would leave the task under minPerTask, wait for a release or a
 *      new task (an awaited promise, never a poll) and retry; otherwise return the grant,
 *      which may be partial or 0.
 * Releasing a task's last byte removes its entry, so it stops counting towards N.
 *
 * Locking: every attempt runs under the owning manager's mutex; the wait happens outside it,
 * as Java's wait() gives up the monitor. Releases are synchronous and wake all waiters.
 * Waiters retry in the order their requests arrived (Spark leaves this to the JVM's monitor);
 * first come, first served, so a steady stream of newcomers cannot starve a waiting task.
 */
import { InvalidArgumentError } from '../errors.js';
import { type AsyncMutex, Condition } from '../util/sync.js';
import { assertByteCount, floorDiv } from './bytes.js';
import { MemoryPool } from './MemoryPool.js';
import type { MemoryMode } from './MemoryMode.js';

export type TaskAttemptId = number;

export class ExecutionMemoryPool extends MemoryPool {
  private readonly memoryForTask = new Map<TaskAttemptId, number>();
  private used = 0;
  private readonly released = new Condition();
  private nextTicket = 0;

  constructor(
    memoryMode: MemoryMode,
    private readonly lock: AsyncMutex,
  ) {
    super(memoryMode);
  }

  get poolName(): string {
    return this.memoryMode === 'ON_HEAP' ? 'on-heap execution' : 'off-heap execution';
  }

  get memoryUsed(): number {
    return this.used;
  }

  /** Tasks currently counted as active (N). */
  get numActiveTasks(): number {
    return this.memoryForTask.size;
  }

  /** Tasks waiting for their 1/(2N) share; for tests and metrics. */
  get numWaitingTasks(): number {
    return this.released.waiting;
  }

  getMemoryUsageForTask(taskAttemptId: TaskAttemptId): number {
    return this.memoryForTask.get(taskAttemptId) ?? 0;
  }

  async acquireMemory(
    numBytes: number,
    taskAttemptId: TaskAttemptId,
    maybeGrowPool: (additionalSpaceNeeded: number) => Promise<void> = async () => {},
    computeMaxPoolSize: () => number = () => this.poolSize,
    signal?: AbortSignal,
  ): Promise<number> {
    assertByteCount(numBytes, 'numBytes');
    if (numBytes === 0) {
      throw new InvalidArgumentError('invalid number of bytes requested: 0 (acquire at least 1 byte)');
    }
    const ticket = this.nextTicket++;
    let unlock = await this.lock.lock();
    try {
      this.register(taskAttemptId);
      for (;;) {
        const numActiveTasks = this.memoryForTask.size;
        const curMem = this.memoryForTask.get(taskAttemptId)!;
        await maybeGrowPool(numBytes - this.memoryFree);
        const maxPoolSize = computeMaxPoolSize();
        const maxMemoryPerTask = floorDiv(maxPoolSize, numActiveTasks);
        const minMemoryPerTask = floorDiv(this.poolSize, 2 * numActiveTasks);
        const maxToGrant = Math.min(numBytes, Math.max(0, maxMemoryPerTask - curMem));
        const toGrant = Math.min(maxToGrant, this.memoryFree);
        if (toGrant < numBytes && curMem + toGrant < minMemoryPerTask) {
          const woken = this.released.wait(signal, ticket);
          unlock();
          try {
            await woken;
          } finally {
            unlock = await this.lock.lock();
          }
          // A cleanup may have dropped the task while it waited; it is still asking.
          this.register(taskAttemptId);
        } else {
          this.memoryForTask.set(taskAttemptId, curMem + toGrant);
          this.used += toGrant;
          return toGrant;
        }
      }
    } finally {
      unlock();
    }
  }

  private register(taskAttemptId: TaskAttemptId): void {
    if (!this.memoryForTask.has(taskAttemptId)) {
      this.memoryForTask.set(taskAttemptId, 0);
      this.released.notifyAll();
    }
  }

  /**
   * Releases up to `numBytes` of the task's memory. Releasing more than the task holds
   * releases what it holds (Spark logs "Internal error"); returns the bytes released.
   */
  releaseMemory(numBytes: number, taskAttemptId: TaskAttemptId): number {
    assertByteCount(numBytes, 'numBytes');
    const curMem = this.memoryForTask.get(taskAttemptId) ?? 0;
    const memoryToFree = Math.min(numBytes, curMem);
    if (this.memoryForTask.has(taskAttemptId)) {
      const remaining = curMem - memoryToFree;
      if (remaining <= 0) this.memoryForTask.delete(taskAttemptId);
      else this.memoryForTask.set(taskAttemptId, remaining);
      this.used -= memoryToFree;
    }
    this.released.notifyAll();
    return memoryToFree;
  }

  releaseAllMemoryForTask(taskAttemptId: TaskAttemptId): number {
    const numBytesToFree = this.getMemoryUsageForTask(taskAttemptId);
    this.releaseMemory(numBytesToFree, taskAttemptId);
    return numBytesToFree;
  }
}
