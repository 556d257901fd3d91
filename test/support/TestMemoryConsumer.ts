/**
 * Spark's TestMemoryConsumer: use(n) acquires n and adds the grant to `used`; spill() frees
 * everything it holds and records that it was asked.
 */
import { MemoryConsumer } from '../../src/memory/MemoryConsumer.js';
import type { MemoryBlock } from '../../src/memory/MemoryBlock.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import type { TaskMemoryManager } from '../../src/memory/TaskMemoryManager.js';

export class TestMemoryConsumer extends MemoryConsumer {
  readonly spillRequests: number[] = [];
  private readonly pages: MemoryBlock[] = [];

  constructor(tmm: TaskMemoryManager, mode: MemoryMode = MemoryMode.OFF_HEAP, pageSize?: number) {
    super(tmm, mode, pageSize);
  }

  async use(size: number): Promise<void> {
    await this.acquireMemory(size);
  }

  free(size: number): void {
    this.freeMemory(size);
  }

  async spill(size: number): Promise<number> {
    this.spillRequests.push(size);
    const released = this.used;
    for (const page of this.pages.splice(0)) this.freePage(page);
    if (this.used > 0) this.free(this.used);
    return released;
  }

  async page(required: number): Promise<MemoryBlock> {
    const page = await this.allocatePage(required);
    this.pages.push(page);
    return page;
  }

  async array(nLongs: number): Promise<MemoryBlock> {
    const page = await this.allocateArray(nLongs);
    this.pages.push(page);
    return page;
  }

  releasePage(page: MemoryBlock): void {
    this.pages.splice(this.pages.indexOf(page), 1);
    this.freePage(page);
  }
}
