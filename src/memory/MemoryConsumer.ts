/**
 * Something in a task that holds execution memory and can give it back by spilling (Spark's
 * MemoryConsumer, §1.7): the sorter, the hash map, the shuffle sorter.
 *
 * `used` is what the consumer holds: pages it allocated plus memory acquired directly. A
 * subclass implements spill(): write what it holds to disk, free its pages, and return the
 * bytes released. spill() must not acquire memory; the TaskMemoryManager refuses if it tries
 * (SpillAcquiredMemoryError), since that would deadlock the task.
 */
import type { MemoryBlock } from './MemoryBlock.js';
import { MemoryMode } from './MemoryMode.js';
import type { TaskMemoryManager } from './TaskMemoryManager.js';

let nextConsumerId = 0;

export abstract class MemoryConsumer {
  readonly pageSize: number;
  private usedBytes = 0;
  private peakUsedBytes = 0;
  private readonly id = nextConsumerId++;

  constructor(
    protected readonly taskMemoryManager: TaskMemoryManager,
    readonly mode: MemoryMode = MemoryMode.OFF_HEAP,
    pageSize?: number,
  ) {
    this.pageSize = pageSize ?? taskMemoryManager.pageSizeBytes;
  }

  /** Bytes this consumer holds now. */
  get used(): number {
    return this.usedBytes;
  }

  /** The most this consumer has held at once (Spark's peak execution memory). */
  get peakUsed(): number {
    return this.peakUsedBytes;
  }

  private addUsed(bytes: number): void {
    this.usedBytes += bytes;
    if (this.usedBytes > this.peakUsedBytes) this.peakUsedBytes = this.usedBytes;
  }

  /** Names the consumer in logs and out-of-memory errors. */
  get name(): string {
    return `${this.constructor.name}@${this.id}`;
  }

  toString(): string {
    return this.name;
  }

  /**
   * Releases memory by spilling; `size` is how much the task is short, `trigger` the consumer
   * that asked (this one, for a self-spill). Returns the bytes released (0: nothing to give).
   */
  abstract spill(size: number, trigger: MemoryConsumer): Promise<number>;

  /** Spills everything this consumer can (Spark's spill()). */
  spillAll(): Promise<number> {
    return this.spill(Number.MAX_SAFE_INTEGER, this);
  }

  /**
   * Allocates a page of at least `required` bytes (a page size's worth when that is larger).
   * Throws OutOfMemoryError if even spilling cannot make room.
   */
  protected allocatePage(required: number): Promise<MemoryBlock> {
    return this.allocatePageBetween(Math.max(this.pageSize, required), required);
  }

  /** Allocates a page of `preferred` bytes, or less when that is all the task can have, but at
   *  least `required`; throws OutOfMemoryError below that. */
  protected async allocatePageBetween(preferred: number, required: number): Promise<MemoryBlock> {
    const page = await this.pageOfAtLeast(Math.max(preferred, required), required);
    this.addUsed(page.size);
    return page;
  }

  /** Allocates exactly `nLongs` × 8 bytes as one page (Spark's allocateArray). */
  protected async allocateArray(nLongs: number): Promise<MemoryBlock> {
    const page = await this.pageOfAtLeast(nLongs * 8, nLongs * 8);
    this.addUsed(page.size);
    return page;
  }

  /** Grows one of this consumer's pages in place; false when the memory could not be had or a
   *  spill meanwhile freed the page. */
  protected async growPage(page: MemoryBlock, newSize: number): Promise<boolean> {
    const before = page.size;
    const grown = await this.taskMemoryManager.growPage(page, newSize, this);
    if (grown) this.addUsed(newSize - before);
    return grown;
  }

  // A grant may be partial, so the page may come back smaller than asked for.
  private async pageOfAtLeast(request: number, required: number): Promise<MemoryBlock> {
    const page = await this.taskMemoryManager.allocatePage(request, this);
    if (page === null || page.size < required) {
      const got = page?.size ?? 0;
      if (page !== null) this.taskMemoryManager.freePage(page, this);
      throw this.taskMemoryManager.outOfMemory(`Unable to acquire ${required} bytes of memory, got ${got}`);
    }
    return page;
  }

  protected freePage(page: MemoryBlock): void {
    this.usedBytes -= page.size;
    this.taskMemoryManager.freePage(page, this);
  }

  /** Acquires up to `size` bytes without a page; returns the grant, which may be less. */
  async acquireMemory(size: number): Promise<number> {
    const granted = await this.taskMemoryManager.acquireExecutionMemory(size, this);
    this.addUsed(granted);
    return granted;
  }

  freeMemory(size: number): void {
    this.taskMemoryManager.releaseExecutionMemory(size, this);
    this.usedBytes -= size;
  }
}
