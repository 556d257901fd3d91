/**
 * Writing files in chunks with backpressure: FileSink appends chunks in order (counted and
 * checksummed) and drain() waits until they are written, so a writer that drains after each
 * batch holds about one batch of bytes. File-system errors become typed errors.
 */
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { DiskFullError, IoError, TungstenError } from '../errors.js';
import type { ByteSink } from '../storage/serialization.js';

/** Appends chunks to a file in order; counts and checksums them. */
export class FileSink implements ByteSink {
  size = 0;
  crc = 0;
  private pending: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(private readonly handle: FileHandle) {}

  write(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.size += chunk.byteLength;
    this.crc = crc32(chunk, this.crc);
    this.pending = this.pending.then(async () => {
      if (this.failure !== undefined) return;
      try {
        let written = 0;
        while (written < chunk.byteLength) {
          const { bytesWritten } = await this.handle.write(chunk, written, chunk.byteLength - written);
          written += bytesWritten;
        }
      } catch (error) {
        this.failure = error;
      }
    });
  }

  async drain(): Promise<void> {
    await this.pending;
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * File-system failures become typed errors (ENOSPC: DiskFullError, others: IoError); anything
 * else (a typed error, the caller's writer failing) passes through unchanged.
 */
export function ioError(error: unknown, doing: string, remedy = 'free space there or point local.dir at another disk'): unknown {
  const errno = error as NodeJS.ErrnoException;
  if (error instanceof TungstenError || typeof errno?.syscall !== 'string') return error;
  if (errno.code === 'ENOSPC' || errno.code === 'EDQUOT') {
    return new DiskFullError(`no space left on the device while ${doing}; ${remedy}`);
  }
  return new IoError(`${doing} failed: ${errno.message}`, { cause: error });
}
