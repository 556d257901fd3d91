/**
 * A view of one native memory block: a Tungsten page or a direct allocation. The bytes live in
 * native memory owned by native/core; this object only names them.
 *
 * `pageNumber` is read from native code each time, so the sentinels are always current:
 * >= 0 live page, −1 direct allocation, −2 released by the page table, −3 freed.
 */
import { addon, type BlockHandle } from '../native/addon.js';

export const NO_PAGE_NUMBER = -1;
export const FREED_IN_TMM_PAGE_NUMBER = -2;
export const FREED_IN_ALLOCATOR_PAGE_NUMBER = -3;

export class MemoryBlock {
  constructor(
    /** The native handle; pass it to native calls that take a block. */
    readonly handle: BlockHandle,
  ) {}

  /** Bytes of the block (a page may grow in place). */
  get size(): number {
    return addon.blockSize(this.handle);
  }

  get pageNumber(): number {
    return addon.blockPageNumber(this.handle);
  }

  /** The absolute native address of the first byte (0n once freed). */
  get baseAddress(): bigint {
    return addon.blockBaseAddress(this.handle);
  }

  toString(): string {
    return `MemoryBlock(page ${this.pageNumber}, ${this.size} bytes)`;
  }
}

/**
 * The process's one page allocator (Spark's MemoryAllocator.UNSAFE). Pages should come through
 * a TaskMemoryManager, which accounts them; direct allocation exists for Spark's own tests of
 * the sentinels and for native-side bookkeeping checks.
 */
export const nativeAllocator = {
  /** Null when the system has no memory for the block. */
  allocate(size: number): MemoryBlock | null {
    const handle = addon.allocatorAllocate(size);
    return handle === null ? null : new MemoryBlock(handle);
  },
  free(block: MemoryBlock): void {
    addon.allocatorFree(block.handle);
  },
  /** Live native bytes and blocks across the process; what "memory is exact" is checked with. */
  stats: () => addon.allocatorStats(),
  get debugFill(): boolean {
    return addon.allocatorDebugFill();
  },
  set debugFill(on: boolean) {
    addon.allocatorSetDebugFill(on);
  },
};
