/**
 * Spark's TestMemoryManager: one shared counter of available execution memory, granted
 * min(request, available) with no fairness between tasks, so TaskMemoryManager's spill order
 * can be tested on its own (AC-TMM-*).
 */
import { MemoryManager } from '../../src/memory/MemoryManager.js';
import type { MemoryMode } from '../../src/memory/MemoryMode.js';

export class TestMemoryManager extends MemoryManager {
  private readonly memoryForTask = new Map<number, number>();

  constructor(private available: number = Number.MAX_SAFE_INTEGER) {
    super({
      numCores: 1,
      onHeapStorageMemory: 0,
      onHeapExecutionMemory: 0,
      offHeapStorageMemory: 0,
      offHeapExecutionMemory: 0,
      pageSizeBytes: 2 ** 20,
    });
  }

  private failures = 0;

  limit(available: number): void {
    this.available = available;
  }

  /** The next `count` acquisitions grant 0 (Spark's markConsequentOOM); Infinity: all. */
  failNextAcquisitions(count: number): void {
    this.failures = count;
  }

  get maxOnHeapStorageMemory(): number {
    return 0;
  }

  get maxOffHeapStorageMemory(): number {
    return 0;
  }

  override get executionMemoryUsed(): number {
    let sum = 0;
    for (const bytes of this.memoryForTask.values()) sum += bytes;
    return sum;
  }

  protected async acquireStorageMemoryLocked(): Promise<boolean> {
    return false;
  }

  async acquireUnrollMemory(): Promise<boolean> {
    return false;
  }

  async acquireExecutionMemory(numBytes: number, taskAttemptId: number): Promise<number> {
    if (this.failures > 0) {
      this.failures -= 1;
      return 0;
    }
    const granted = Math.min(numBytes, this.available);
    this.available -= granted;
    this.memoryForTask.set(taskAttemptId, (this.memoryForTask.get(taskAttemptId) ?? 0) + granted);
    return granted;
  }

  override releaseExecutionMemory(numBytes: number, taskAttemptId: number, _mode: MemoryMode): void {
    const held = this.memoryForTask.get(taskAttemptId) ?? 0;
    if (numBytes > held) throw new Error(`task ${taskAttemptId} releases ${numBytes} but holds ${held}`);
    this.available += numBytes;
    this.memoryForTask.set(taskAttemptId, held - numBytes);
  }

  override releaseAllExecutionMemoryForTask(taskAttemptId: number): number {
    const held = this.memoryForTask.get(taskAttemptId) ?? 0;
    this.releaseExecutionMemory(held, taskAttemptId, 'OFF_HEAP');
    this.memoryForTask.delete(taskAttemptId);
    return held;
  }

  override getExecutionMemoryUsageForTask(taskAttemptId: number): number {
    return this.memoryForTask.get(taskAttemptId) ?? 0;
  }
}
