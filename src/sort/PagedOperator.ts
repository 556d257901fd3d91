/**
 * A native operator that works in granted pages: the external sorter and the hash aggregation
 * (through SpillingOperator) and the shuffle sorter. This is the grant protocol's TypeScript
 * half, written once:
 *
 *   1. Native code asks for room (a data page of at least N bytes, or a larger array) and stops.
 *   2. The page is granted here first (allocatePage / allocateArray: the TaskMemoryManager may
 *      spill to find the memory, this operator included), then handed to native code under the
 *      operation lock. If native code refuses it (closed, busy, a wrong page), it is freed at
 *      once: a page the native side does not hold is never left granted.
 *   3. Pages and the array are freed here when native code no longer references them (after a
 *      spill, a reset or close).
 *
 * Every native operation runs one at a time per operator (`run`, under opLock); the lock is
 * never held while memory is acquired, because acquiring may spill this very operator.
 */
import type { Schema } from 'apache-arrow';
import { ClosedError, RecordTooLargeError } from '../errors.js';
import type { MemoryBlock } from '../memory/MemoryBlock.js';
import { MemoryConsumer } from '../memory/MemoryConsumer.js';
import { MemoryMode } from '../memory/MemoryMode.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import type { InsertProgress } from '../native/addon.js';
import { checkBatchSchema } from '../util/schema.js';
import { AsyncMutex } from '../util/sync.js';

export abstract class PagedOperator<Handle> extends MemoryConsumer {
  protected readonly opLock = new AsyncMutex();
  protected readonly dataPages: MemoryBlock[] = [];
  /** The sorter's pointer array or the aggregation's slot array. */
  protected array: MemoryBlock | undefined;

  protected constructor(
    taskMemoryManager: TaskMemoryManager,
    /** Names the operator in messages: "the sorter". */
    protected readonly what: string,
    /** The largest data page native code can address. */
    private readonly maxPageBytes: number,
  ) {
    super(taskMemoryManager, MemoryMode.OFF_HEAP, Math.min(maxPageBytes, taskMemoryManager.pageSizeBytes));
  }

  protected abstract readonly handle: Handle;
  protected abstract isClosed(): boolean;
  protected abstract nativeAddDataPage(page: MemoryBlock): unknown;

  protected run<R>(operation: (handle: Handle) => Promise<R> | R): Promise<R> {
    return this.opLock.run(async () => {
      if (this.isClosed()) throw new ClosedError(this.what);
      try {
        return await operation(this.handle);
      } finally {
        if (!this.isClosed()) this.afterOperation();
      }
    });
  }

  /** Runs under the lock after every native operation: where an operator snapshots its native
   *  metrics, which cannot be read while a worker runs. Its output runs one batch ahead of the
   *  consumer (nativeOutputBatches), so the lock is held most of the time it is read, and a
   *  snapshot taken only when the lock is free would lag behind the whole output. */
  protected afterOperation(): void {}

  /** Throws SchemaMismatchError unless `schema` has `expected`'s fields, by name and type. */
  protected checkSchema(schema: Schema, expected: Schema): void {
    checkBatchSchema(schema, expected, this.what);
  }

  /**
   * Inserts rows [0, numRows) of a batch through the native `insert`, granting between calls
   * what it asks for (a page, or a bigger array through `growArray`), until it asks for nothing
   * and has taken every row.
   */
  protected async insertRows(
    numRows: number,
    insert: (handle: Handle, row: number) => Promise<InsertProgress>,
    growArray: () => Promise<void>,
  ): Promise<void> {
    let row = 0;
    await this.insertWithGrants(async (handle) => {
      const progress = await insert(handle, row);
      row = progress.nextRow;
      return { ...progress, done: row >= numRows };
    }, growArray);
  }

  /**
   * Runs a native insert step (under the lock) again and again, granting between steps what it
   * asks for (a page, or a bigger array through `growArray`), until a step asks for nothing and
   * says it is done. `beforeEachStep` may throw to stop (a kill).
   */
  protected async insertWithGrants(
    step: (handle: Handle) => Promise<{ needPageBytes: number; needArray: boolean; done: boolean }>,
    growArray: () => Promise<void>,
    beforeEachStep?: () => void,
  ): Promise<void> {
    for (;;) {
      beforeEachStep?.();
      const progress = await this.run(step);
      if (progress.needArray) await growArray();
      else if (progress.needPageBytes > 0) await this.acquireNewPage(progress.needPageBytes);
      else if (progress.done) return;
    }
  }

  /** Grants a data page of at least `requiredBytes` and hands it to native code. */
  protected async acquireNewPage(requiredBytes: number): Promise<void> {
    if (requiredBytes > this.maxPageBytes) {
      throw new RecordTooLargeError(`a row needs ${requiredBytes} bytes, more than the largest page ${this.what} can address (${this.maxPageBytes} bytes)`);
    }
    const page = await this.allocatePage(requiredBytes);
    await this.handToNative(page, () => this.nativeAddDataPage(page));
    this.dataPages.push(page);
  }

  /** Hands a granted array to native code in place of the current one, which is then freed. */
  protected async replaceArray(array: MemoryBlock, nativeAdopt: (handle: Handle) => unknown): Promise<void> {
    await this.handToNative(array, nativeAdopt);
    const previous = this.array;
    this.array = array;
    if (previous) this.freePage(previous);
  }

  /** Frees the pages and the array (native code no longer references them); returns the bytes. */
  protected freeInMemoryData(): number {
    let freed = 0;
    for (const page of this.dataPages.splice(0)) {
      freed += page.size;
      this.freePage(page);
    }
    if (this.array) {
      freed += this.array.size;
      this.freePage(this.array);
      this.array = undefined;
    }
    return freed;
  }

  private async handToNative(block: MemoryBlock, hand: (handle: Handle) => unknown): Promise<void> {
    try {
      await this.run(hand);
    } catch (error) {
      this.freePage(block);
      throw error;
    }
  }
}
