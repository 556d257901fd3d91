/**
 * Blocks on disk (Spark's DiskStore, spark-semantics §2.5): one file per block, at the place
 * the DiskBlockManager derives from the block's name.
 *
 * What is tracked: each block's size and CRC-32 (zlib's), recorded as it is written, so a read
 * detects a file that was truncated, extended or changed since (BlockCorruptError), rather than
 * handing back wrong batches. The checksum lives in this store's memory, not in the file, so
 * the file stays a plain Arrow IPC stream any Arrow reader can open.
 *
 * Writes stream: the caller's writer gets a ByteSink whose chunks are appended to the file in
 * order, and awaits drain() to keep at most a few chunks in memory. A put that fails (a full
 * disk, a throwing writer) deletes its file before the error propagates. A block already on
 * disk is refused (Spark 3.x: "Block X is already present in the disk store").
 *
 * Reads: a block below `memoryMapThreshold` (spark.storage.memoryMapThreshold, 2 MiB) is read
 * in one piece; a larger one in chunks, so no read makes one copy of a large file (Node has no
 * memory map; chunks serve the same purpose here).
 */
import { existsSync } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { BlockCorruptError, BlockNotFoundError, StorageError } from '../errors.js';
import { FileSink, ioError } from '../util/fileSink.js';
import type { BlockId } from './BlockId.js';
import type { DiskBlockManager } from './DiskBlockManager.js';
import { type ByteSink, ChunkedBytes } from './serialization.js';

export interface DiskStoreOptions {
  /** spark.storage.memoryMapThreshold: larger blocks are read in chunks (2 MiB). */
  readonly memoryMapThreshold?: number;
  /** Bytes per chunk of chunked reads (1 MiB). */
  readonly chunkSize?: number;
}

interface StoredFile {
  readonly size: number;
  readonly crc: number;
}

export class DiskStore {
  private readonly files = new Map<string, StoredFile>();
  readonly memoryMapThreshold: number;
  readonly chunkSize: number;

  constructor(
    readonly diskManager: DiskBlockManager,
    options: DiskStoreOptions = {},
  ) {
    this.memoryMapThreshold = options.memoryMapThreshold ?? 2 * 2 ** 20;
    this.chunkSize = options.chunkSize ?? 2 ** 20;
  }

  getSize(id: BlockId): number {
    return this.files.get(id.name)?.size ?? 0;
  }

  contains(id: BlockId): boolean {
    return this.files.has(id.name) && existsSync(this.diskManager.getFile(id));
  }

  /**
   * Writes a block through `write`, which sends its bytes to the sink it is given. On any
   * failure the file is removed and the error propagates (ENOSPC as DiskFullError).
   */
  async put(id: BlockId, write: (sink: ByteSink) => Promise<void>): Promise<number> {
    if (this.files.has(id.name)) throw new StorageError(`Block ${id.name} is already present in the disk store`);
    const path = this.diskManager.getFile(id);
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'w');
      const sink = new FileSink(handle);
      await write(sink);
      await sink.drain();
      await handle.close();
      handle = undefined;
      this.files.set(id.name, { size: sink.size, crc: sink.crc });
      return sink.size;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(path, { force: true });
      throw ioError(error, `writing block ${id.name} to ${path}`);
    }
  }

  /** Writes bytes already in memory. */
  putBytes(id: BlockId, chunks: Iterable<Uint8Array>): Promise<number> {
    return this.put(id, async (sink) => {
      for (const chunk of chunks) {
        sink.write(chunk);
        await sink.drain();
      }
    });
  }

  /**
   * The block's bytes as chunks, read lazily; the size is checked before the first chunk and
   * the checksum after the last (a reader sees BlockCorruptError then, before it is done).
   */
  async *readChunks(id: BlockId): AsyncGenerator<Uint8Array, void, undefined> {
    const stored = this.files.get(id.name);
    if (!stored) throw new BlockNotFoundError(id.name, 'it is not in the disk store');
    const path = this.diskManager.getFile(id);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockCorruptError(id.name, `its file ${path} is gone`);
      throw ioError(error, `opening block ${id.name}`);
    }
    try {
      const { size } = await handle.stat();
      if (size !== stored.size) throw new BlockCorruptError(id.name, `its file has ${size} bytes, ${stored.size} were written`);
      const chunkSize = stored.size < this.memoryMapThreshold ? Math.max(1, stored.size) : this.chunkSize;
      let crc = 0;
      for (let offset = 0; offset < stored.size; ) {
        const chunk = Buffer.allocUnsafeSlow(Math.min(chunkSize, stored.size - offset));
        const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, offset);
        if (bytesRead !== chunk.byteLength) throw new BlockCorruptError(id.name, `its file ended at ${offset + bytesRead} of ${stored.size} bytes`);
        crc = crc32(chunk, crc);
        offset += bytesRead;
        if (offset === stored.size && crc !== stored.crc) throw new BlockCorruptError(id.name, 'its checksum does not match what was written');
        yield chunk;
      }
    } catch (error) {
      throw ioError(error, `reading block ${id.name}`);
    } finally {
      await handle.close();
    }
  }

  /** The whole block in memory, in chunks (to cache it back as bytes, or to send it). */
  async getBytes(id: BlockId): Promise<ChunkedBytes> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.readChunks(id)) chunks.push(chunk);
    return new ChunkedBytes(chunks);
  }

  /** Deletes the block's file; false when there was none. */
  async remove(id: BlockId): Promise<boolean> {
    const known = this.files.delete(id.name);
    const path = this.diskManager.getFile(id);
    const existed = await stat(path).then(
      () => true,
      () => false,
    );
    if (existed) await rm(path, { force: true });
    return known && existed;
  }

  /** Forgets every block and deletes the files (shutdown). */
  async clear(): Promise<void> {
    const names = [...this.files.keys()];
    this.files.clear();
    await Promise.all(names.map((name) => rm(this.diskManager.getFile(name), { force: true })));
  }

  /** Blocks on disk (tests, reports). */
  get numBlocks(): number {
    return this.files.size;
  }
}

