/**
 * Serialized block bytes held in native memory: the OFF_HEAP storage level's form. A list of
 * native blocks, one per serialized chunk, each allocated when its chunk is appended, which the
 * caller does only once storage (or unroll) memory covers it: off-heap storage is as exact as
 * Tungsten pages, and an off-heap block being unrolled moves into native memory a chunk at a
 * time instead of being held whole in JavaScript and copied at the end. Reads copy out in
 * chunks: a view into native memory would outlive the block if the block were evicted while
 * JavaScript still held it. A native message (serialization.ts) is adopted as it is, without a
 * copy, and read out whole: one record-batch message, which apache-arrow's reader then reads
 * without joining pieces of it.
 */
import { InternalError } from '../errors.js';
import { type MemoryBlock, nativeAllocator } from '../memory/MemoryBlock.js';
import { addon } from '../native/addon.js';
import { type ChunkedBytes, isNativeMessage, type SerializedPiece } from './serialization.js';

export class NativeBytes {
  private blocks: MemoryBlock[] = [];
  /** Per block: a native message, read whole (its size is the block's). */
  private messages: boolean[] = [];
  private disposed = false;
  /** Bytes appended so far. */
  size = 0;

  /** Copies `bytes` into native blocks; the caller holds storage memory for `bytes.size`. */
  static copyOf(bytes: ChunkedBytes): NativeBytes {
    const native = new NativeBytes();
    try {
      for (const chunk of bytes.chunks) native.append(chunk);
    } catch (error) {
      native.dispose();
      throw error;
    }
    return native;
  }

  /** Copies one chunk into a new native block, or adopts a native message (freed with these
   *  bytes from now on); the caller's memory must cover it. */
  append(piece: SerializedPiece): void {
    if (this.disposed) throw new InternalError('INTERNAL', 'an off-heap block was appended to after it was freed');
    if (isNativeMessage(piece)) {
      this.blocks.push(piece.block);
      this.messages.push(true);
      this.size += piece.size;
      return;
    }
    const chunk = piece;
    // An empty partition serializes to no bytes and needs no native block.
    if (chunk.byteLength === 0) return;
    const block = nativeAllocator.allocate(chunk.byteLength);
    if (block === null) throw new InternalError('NATIVE_OUT_OF_MEMORY', `the system has no memory for an off-heap block of ${chunk.byteLength} bytes`);
    addon.blockWrite(block.handle, 0, chunk);
    this.blocks.push(block);
    this.messages.push(false);
    this.size += chunk.byteLength;
  }

  /** The bytes, copied out in chunks of at most `chunkSize`. */
  *readChunks(chunkSize: number): Generator<Uint8Array> {
    // Freed while a reader was between chunks: a freed block's handle must not be read again.
    const checkLive = (): void => {
      if (this.disposed) throw new InternalError('INTERNAL', 'an off-heap block was read after it was freed');
    };
    for (const [i, block] of this.blocks.entries()) {
      checkLive();
      const length = block.size;
      const pieceSize = this.messages[i] ? length : chunkSize;
      for (let offset = 0; offset < length; offset += pieceSize) {
        checkLive();
        yield addon.blockRead(block.handle, offset, Math.min(pieceSize, length - offset));
      }
    }
  }

  dispose(): void {
    for (const block of this.blocks) nativeAllocator.free(block);
    this.blocks = [];
    this.messages = [];
    this.disposed = true;
  }
}
