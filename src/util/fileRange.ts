/**
 * Reads a byte range of an open file as a stream of chunks, so that a range larger than memory
 * (a shuffle segment, a spill file's partition) is never held whole. A file that ends before the
 * range does is an error, not a short read.
 */
import type { FileHandle } from 'node:fs/promises';

export const FILE_RANGE_CHUNK_BYTES = 1 << 20;

export async function* readFileRange(handle: FileHandle, offset: number, length: number, chunkBytes = FILE_RANGE_CHUNK_BYTES): AsyncGenerator<Uint8Array, void, undefined> {
  for (let read = 0; read < length; ) {
    const chunk = Buffer.allocUnsafeSlow(Math.min(chunkBytes, length - read));
    const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, offset + read);
    if (bytesRead === 0) throw new Error(`the file ended ${length - read} bytes before the range did`);
    read += bytesRead;
    yield bytesRead === chunk.byteLength ? chunk : chunk.subarray(0, bytesRead);
  }
}
