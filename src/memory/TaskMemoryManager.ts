/**
 * One task attempt's memory: its execution grants, its consumers and its pages (Spark's
 * TaskMemoryManager, spark-semantics §1.6).
 *
 * Who holds what: the MemoryManager counts the task's bytes per mode; this object knows which
 * consumer asked for them, and owns the task's native page table (8192 page numbers, created
 * on the first page). Pages are allocated by native code only after the bytes were acquired
 * here, and exactly as many bytes as were acquired (DESIGN.md §2, the grant protocol).
 *
 * acquireExecutionMemory(required, requester), one call at a time per task:
 *   1. got = the memory manager's grant (it may wait for the task's fair share).
 *   2. While got < required: order the task's consumers of the same mode that hold memory by
 *      their use, the requester keyed 0 so it comes last; pick the smallest that covers the
 *      shortfall, else the largest; spill it, and if it released anything ask the manager
 *      again, else drop it from the loop.
 *   3. Register the requester (only now, so its first request never spills itself) and
 *      return got, which may still be short; the caller decides to spill or fail.
 *
 * Record addresses are bigint: 13 bits of page number, 51 bits of offset relative to the
 * page's base (off-heap encoding), computed by native code.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { formatBytes } from '../config/size.js';
import {
  InvalidArgumentError,
  OutOfMemoryError,
  SpillAcquiredMemoryError,
  TooLargePageError,
  TungstenError,
} from '../errors.js';
import { addon, type PageTableHandle } from '../native/addon.js';
import { AsyncMutex } from '../util/sync.js';
import { assertByteCount } from './bytes.js';
import type { TaskAttemptId } from './ExecutionMemoryPool.js';
import { MemoryBlock } from './MemoryBlock.js';
import type { MemoryConsumer } from './MemoryConsumer.js';
import type { MemoryManager } from './MemoryManager.js';
import { MemoryMode } from './MemoryMode.js';

export const PAGE_NUMBER_BITS = addon.constants.PAGE_NUMBER_BITS;
export const OFFSET_BITS = addon.constants.OFFSET_BITS;
export const PAGE_TABLE_SIZE = addon.constants.PAGE_TABLE_SIZE;
export const MAXIMUM_PAGE_SIZE_BYTES = addon.constants.MAXIMUM_PAGE_SIZE_BYTES;

/** Set while a consumer's spill() runs, to catch a spill that acquires memory. */
const spillingFor = new AsyncLocalStorage<TaskMemoryManager>();

export interface TaskMemoryManagerOptions {
  /** Aborting it kills the task: a wait for memory rejects with TaskKilledError. */
  readonly signal?: AbortSignal | undefined;
}

export class TaskMemoryManager {
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly lock = new AsyncMutex();
  private pageTable: PageTableHandle | undefined;
  /** Bytes acquired for pages the allocator could not back; kept so the retry can spill. */
  private acquiredButNotUsed = 0;
  readonly signal: AbortSignal | undefined;

  constructor(
    readonly memoryManager: MemoryManager,
    readonly taskAttemptId: TaskAttemptId,
    options: TaskMemoryManagerOptions = {},
  ) {
    this.signal = options.signal;
  }

  get pageSizeBytes(): number {
    return this.memoryManager.pageSizeBytes;
  }

  get maxSpillBlockBytes(): number {
    return this.memoryManager.maxSpillBlockBytes;
  }

  get tungstenMemoryMode(): MemoryMode {
    return this.memoryManager.tungstenMemoryMode;
  }

  /** Acquires up to `required` bytes for `requester`, spilling consumers as needed. */
  async acquireExecutionMemory(required: number, requester: MemoryConsumer): Promise<number> {
    assertByteCount(required, 'required');
    if (spillingFor.getStore() === this) {
      throw new SpillAcquiredMemoryError(
        `${requester.name} asked for ${required} bytes from inside a spill() of the same task; ` +
          'spill() must only release memory',
      );
    }
    return this.lock.run(async () => {
      const mode = requester.mode;
      let got = await this.memoryManager.acquireExecutionMemory(required, this.taskAttemptId, mode, this.signal);
      try {
        if (got < required) {
          const byUse = this.spillCandidates(mode, requester);
          while (got < required && byUse.length > 0) {
            // Smallest key >= the shortfall, else the largest key.
            const shortfall = required - got;
            const entry = byUse.find(([key]) => key >= shortfall) ?? byUse[byUse.length - 1]!;
            const list = entry[1];
            const consumer = list[list.length - 1]!;
            const released = await this.spillOne(consumer, shortfall, requester);
            if (released > 0) {
              got += await this.memoryManager.acquireExecutionMemory(shortfall, this.taskAttemptId, mode, this.signal);
            } else {
              list.pop();
              if (list.length === 0) byUse.splice(byUse.indexOf(entry), 1);
            }
          }
        }
      } catch (error) {
        // The requester never receives what was granted before the failure: give it back here
        // rather than leave it to the task's cleanup (where Spark leaves it).
        if (got > 0) this.memoryManager.releaseExecutionMemory(got, this.taskAttemptId, mode);
        throw error;
      }
      this.consumers.add(requester);
      return got;
    });
  }

  /**
   * Spark's TreeMap<used, consumers>: the task's consumers of `mode` that hold memory, as
   * [key, consumers] sorted by key; the requester's key is 0 so that it is spilled last. Keys
   * are not updated as consumers spill, exactly as in Spark.
   */
  private spillCandidates(mode: MemoryMode, requester: MemoryConsumer): Array<[number, MemoryConsumer[]]> {
    const byKey = new Map<number, MemoryConsumer[]>();
    for (const consumer of this.consumers) {
      if (consumer.used > 0 && consumer.mode === mode) {
        const key = consumer === requester ? 0 : consumer.used;
        const list = byKey.get(key);
        if (list) list.push(consumer);
        else byKey.set(key, [consumer]);
      }
    }
    return [...byKey.entries()].sort(([a], [b]) => a - b);
  }

  private async spillOne(consumer: MemoryConsumer, size: number, requester: MemoryConsumer): Promise<number> {
    try {
      return await spillingFor.run(this, () => consumer.spill(size, requester));
    } catch (error) {
      // The engine's own errors (a kill, a full disk, a corrupt file) keep their code; anything
      // else becomes Spark's "error while calling spill()".
      if (error instanceof TungstenError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new OutOfMemoryError(`error while calling spill() on ${consumer.name} : ${message}`, this.consumerUsage(), {
        cause: error,
        code: 'SPILL_FAILED',
      });
    }
  }

  releaseExecutionMemory(size: number, consumer: MemoryConsumer): void {
    this.memoryManager.releaseExecutionMemory(size, this.taskAttemptId, consumer.mode);
  }

  /**
   * Allocates a page of up to `size` bytes for `consumer`: null if no memory could be acquired
   * at all, and possibly smaller than `size` (callers check). Throws TooLargePageError before
   * acquiring anything for a page above the maximum, and PageTableFullError (having released
   * what it acquired) when the task already holds 8192 pages.
   */
  async allocatePage(size: number, consumer: MemoryConsumer): Promise<MemoryBlock | null> {
    if (consumer.mode !== this.tungstenMemoryMode) {
      throw new InvalidArgumentError(
        `${consumer.name} is ${consumer.mode}, but Tungsten pages are ${this.tungstenMemoryMode}`,
      );
    }
    if (size > MAXIMUM_PAGE_SIZE_BYTES) {
      throw new TooLargePageError(`Cannot allocate a page with more than ${MAXIMUM_PAGE_SIZE_BYTES} bytes`);
    }
    for (;;) {
      const acquired = await this.acquireExecutionMemory(size, consumer);
      if (acquired <= 0) return null;
      let handle;
      try {
        handle = addon.pageTableAllocatePage(this.nativePageTable(), acquired);
      } catch (error) {
        this.releaseExecutionMemory(acquired, consumer);
        throw error;
      }
      if (handle !== null) return new MemoryBlock(handle);
      // The system had no memory for a granted page. Keep the grant counted, so the next
      // attempt sees the task as holding it and spills, as Spark does; cleanup releases it.
      this.acquiredButNotUsed += acquired;
    }
  }

  /**
   * Grows a page of `consumer` in place to `newSize` bytes, acquiring the difference first (it
   * may spill). False, with nothing held, when the memory could not be had, or when a spill
   * during the acquisition freed the page itself.
   */
  async growPage(page: MemoryBlock, newSize: number, consumer: MemoryConsumer): Promise<boolean> {
    if (newSize > MAXIMUM_PAGE_SIZE_BYTES) {
      throw new TooLargePageError(`Cannot allocate a page with more than ${MAXIMUM_PAGE_SIZE_BYTES} bytes`);
    }
    const extra = newSize - page.size;
    if (extra <= 0) throw new InvalidArgumentError(`a page grows only: ${page} to ${newSize} bytes`);
    const acquired = await this.acquireExecutionMemory(extra, consumer);
    const release = (): false => {
      if (acquired > 0) this.releaseExecutionMemory(acquired, consumer);
      return false;
    };
    if (acquired < extra || page.pageNumber < 0) return release();
    try {
      if (!addon.pageTableGrowPage(this.nativePageTable(), page.handle, newSize)) return release();
    } catch (error) {
      release();
      throw error;
    }
    return true;
  }

  /**
   * The task's native page table, created on first use. Native consumers (the sorter) resolve
   * record addresses through it; it lives until cleanUpAllAllocatedMemory.
   */
  nativePageTable(): PageTableHandle {
    this.pageTable ??= addon.pageTableCreate();
    return this.pageTable;
  }

  /** Frees a page of this task and releases its bytes. Throws InvalidPageStateError for a
   *  page freed twice, allocated directly, or owned by another task. */
  freePage(page: MemoryBlock, consumer: MemoryConsumer): void {
    if (this.pageTable === undefined) {
      throw new InvalidArgumentError(`${page} is not a page of task ${this.taskAttemptId}, which has no pages`);
    }
    addon.pageTableFreePage(this.pageTable, page.handle);
    this.releaseExecutionMemory(page.size, consumer);
  }

  static encodePageNumberAndOffset(pageNumber: number, offsetInPage: bigint): bigint {
    return addon.encodePageNumberAndOffset(pageNumber, offsetInPage);
  }

  static decodePageNumber(address: bigint): number {
    return addon.decodePageNumber(address);
  }

  static decodeOffset(address: bigint): bigint {
    return addon.decodeOffset(address);
  }

  /** Encodes an absolute native address inside `page` (off-heap: stored relative to the page). */
  encodePageNumberAndOffset(page: MemoryBlock, absoluteAddress: bigint): bigint {
    if (this.pageTable === undefined) throw new InvalidArgumentError(`${page} is not a page of this task`);
    return addon.pageTableEncodeAbsolute(this.pageTable, page.handle, absoluteAddress);
  }

  /** Pages are off-heap, so there is no base object: always null, as in Spark's off-heap mode. */
  getPage(_address: bigint): null {
    return null;
  }

  /** The absolute native address a record address points at. */
  getOffsetInPage(address: bigint): bigint {
    if (this.pageTable === undefined) throw new InvalidArgumentError('this task has no pages');
    return addon.pageTableAbsoluteAddress(this.pageTable, address);
  }

  /** Live pages of this task. */
  get livePages(): number {
    return this.pageTable === undefined ? 0 : addon.pageTableLivePages(this.pageTable);
  }

  /** Execution bytes the task holds, both modes. */
  getMemoryConsumptionForThisTask(): number {
    return this.memoryManager.getExecutionMemoryUsageForTask(this.taskAttemptId);
  }

  /**
   * Frees every page and every byte the task still holds and forgets its consumers; returns
   * the bytes that were still held, so a non-zero result means the task leaked. Leaves the
   * manager usable (a retry may allocate again).
   */
  cleanUpAllAllocatedMemory(): number {
    this.consumers.clear();
    if (this.pageTable !== undefined) {
      addon.pageTableClose(this.pageTable);
      this.pageTable = undefined;
    }
    this.memoryManager.releaseExecutionMemory(this.acquiredButNotUsed, this.taskAttemptId, this.tungstenMemoryMode);
    this.acquiredButNotUsed = 0;
    return this.memoryManager.releaseAllExecutionMemoryForTask(this.taskAttemptId);
  }

  /** What each consumer of the task holds, for errors and logs. */
  consumerUsage(): Array<{ name: string; mode: MemoryMode; used: number }> {
    return [...this.consumers].map((c) => ({ name: c.name, mode: c.mode, used: c.used }));
  }

  /** Spark's showMemoryUsage, as text. */
  showMemoryUsage(): string {
    const lines = [`Memory used in task ${this.taskAttemptId}:`];
    let byConsumers = 0;
    for (const { name, mode, used } of this.consumerUsage()) {
      byConsumers += used;
      if (used > 0) lines.push(`  Acquired by ${name} (${mode}): ${formatBytes(used)}`);
    }
    const total = this.getMemoryConsumptionForThisTask();
    lines.push(
      `  ${formatBytes(Math.max(0, total - byConsumers))} of memory were used by task ${this.taskAttemptId} ` +
        'but are not associated with specific consumers',
      `  ${formatBytes(this.memoryManager.executionMemoryUsed)} of memory are used for execution and ` +
        `${formatBytes(this.memoryManager.storageMemoryUsed)} for storage`,
    );
    return lines.join('\n');
  }

  /** An OutOfMemoryError whose message and `consumers` list what the task holds. */
  outOfMemory(reason: string): OutOfMemoryError {
    return new OutOfMemoryError(`${reason}\n${this.showMemoryUsage()}`, this.consumerUsage());
  }
}
