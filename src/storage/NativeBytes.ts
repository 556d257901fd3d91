/**
 * Serialized block bytes held in native memory: the OFF_HEAP storage level's form. One native
 * block of exactly the entry's size, allocated only after the storage memory was granted, so
 * off-heap storage is as exact as Tungsten pages. Reads copy out in chunks: a view into native
 * memory would outlive the block if the block were evicted while JavaScript still held it.
 */
import { InternalError } from '../errors.js';
import { type MemoryBlock, nativeAllocator } from '../memory/MemoryBlock.js';
import { addon } from '../native/addon.js';
import type { ChunkedBytes } from './serialization.js';

export class NativeBytes {
  private block: MemoryBlock | undefined;

  private constructor(
    block: MemoryBlock | undefined,
    readonly size: number,
  ) {
    this.block = block;
  }

  /** Copies `bytes` into a new native block; the caller holds storage memory for `bytes.size`. */
  static copyOf(bytes: ChunkedBytes): NativeBytes {
    // An empty partition serializes to no bytes and needs no native block.
    if (bytes.size === 0) return new NativeBytes(undefined, 0);
    const block = nativeAllocator.allocate(bytes.size);
    if (block === null) throw new InternalError('NATIVE_OUT_OF_MEMORY', `the system has no memory for an off-heap block of ${bytes.size} bytes`);
    let offset = 0;
    for (const chunk of bytes.chunks) {
      addon.blockWrite(block.handle, offset, chunk);
      offset += chunk.byteLength;
    }
    return new NativeBytes(block, bytes.size);
  }

  /** The bytes, copied out in chunks of at most `chunkSize`. */
  *readChunks(chunkSize: number): Generator<Uint8Array> {
    for (let offset = 0; offset < this.size; offset += chunkSize) {
      if (!this.block) throw new InternalError('INTERNAL', 'an off-heap block was read after it was freed');
      yield addon.blockRead(this.block.handle, offset, Math.min(chunkSize, this.size - offset));
    }
  }

  dispose(): void {
    if (this.block) nativeAllocator.free(this.block);
    this.block = undefined;
  }
}
