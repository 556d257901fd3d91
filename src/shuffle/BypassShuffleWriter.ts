/**
 * Spark's BypassMergeSortShuffleWriter (spark-semantics §3.7) as a MemoryConsumer of one map
 * task, over the native bypass writer (native/core/bypass_writer.h): no sort at all. Each row is
 * copied into its reduce partition's region of a buffer, column by column, and a full region is
 * encoded as one Arrow IPC record-batch message (LZ4_FRAME buffers) and appended to that
 * partition's own file; at the end the files are concatenated into the data file.
 *
 * What is tracked, and who reserves it: the one buffer block, granted here by the task's
 * TaskMemoryManager before native code writes into it: the preferred size (a region of
 * `batchRows` rows per partition), at most BYPASS_BUFFER_BYTES, or less if that is all the task
 * can have, down to the writer's minimum (a row per partition). Spark's writer holds N stream
 * buffers of shuffle.file.buffer outside any accounting instead. Not counted, bounded: one
 * encoded message (a region's bytes, compressed), and a row too large for its region, which
 * goes out alone through a scratch region of its own size.
 *
 * The algorithm:
 *   1. The first write opens the N partition files (Spark's writer opens its N writers at once)
 *      and grants the buffer.
 *   2. write(batch): in one native call on a worker thread, partition ids are computed, rows are
 *      placed in their regions, and full regions are written out.
 *   3. spill(): when another consumer of the task is short of memory and no write is running,
 *      everything buffered is written out and the buffer freed; the next write grants it again.
 *   4. writeDataFile(path): the last rows are written out, then native code writes each
 *      non-empty partition's segment (the schema message, the partition file's bytes copied in
 *      the kernel, the end-of-stream marker) and returns the segments' lengths and CRC-32s,
 *      kept as the bytes were written, so nothing is read back.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { open, type FileHandle } from 'node:fs/promises';
import { ClosedError } from '../errors.js';
import type { MemoryBlock } from '../memory/MemoryBlock.js';
import { MemoryConsumer } from '../memory/MemoryConsumer.js';
import { MemoryMode } from '../memory/MemoryMode.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import { addon, type BypassWriterHandle, type NativeColumnType, type NativePartitioner } from '../native/addon.js';
import { toNativeBatch } from '../sort/arrowBatches.js';
import { nativeColumnType } from '../sort/columnTypes.js';
import { decodeDictionaries, decodedSchema } from '../sort/dictionaries.js';
import type { DiskBlockManager } from '../storage/DiskBlockManager.js';
import type { BlockCompression } from '../storage/serialization.js';
import { ioError } from '../util/fileSink.js';
import { checkBatchSchema } from '../util/schema.js';
import { AsyncMutex } from '../util/sync.js';
import { segmentSchemaMessage } from './segments.js';

/** The most buffer the bypass writer asks for: Spark's bypass writer holds 200 partitions ×
 *  32 KiB of stream buffers at most, about 6 MiB; this is of that order, and is execution
 *  memory, granted like any other. */
export const BYPASS_BUFFER_BYTES = 16 * 1024 * 1024;

export interface BypassWriterOptions {
  readonly partitioner: NativePartitioner;
  /** RANGE: the bounds, a batch of numPartitions − 1 rows of the input's schema. */
  readonly bounds?: RecordBatch;
  readonly compression: BlockCompression;
  /** Rows per message at most. Default 65,536. */
  readonly batchRows?: number;
}

export interface BypassWriterMetrics {
  rows: number;
  messages: number;
  /** CPU time of the native work, on worker threads. */
  cpuTimeMs: number;
  /** Buffers written out early because another consumer needed the memory. */
  spillCount: number;
  memoryBytesSpilled: number;
  diskBytesSpilled: number;
  peakExecutionMemory: number;
}

/** The partition files, opened at the first write and removed by whoever made the writer. */
interface PartitionFile {
  readonly path: string;
  handle: FileHandle | undefined;
}

export class BypassShuffleWriter extends MemoryConsumer {
  private readonly opLock = new AsyncMutex();
  private readonly handle: BypassWriterHandle;
  private readonly types: NativeColumnType[];
  private readonly decoded: Schema;
  private readonly files: PartitionFile[] = [];
  private buffer: MemoryBlock | undefined;
  private closed = false;
  private spillCount = 0;
  private memoryBytesSpilled = 0;
  private diskBytesSpilled = 0;
  private lastState = { rowsWritten: 0, messagesWritten: 0, workerCpuNanos: 0 };

  constructor(
    taskMemoryManager: TaskMemoryManager,
    private readonly inputSchema: Schema,
    private readonly numPartitions: number,
    private readonly diskBlockManager: DiskBlockManager,
    options: BypassWriterOptions,
  ) {
    super(taskMemoryManager, MemoryMode.OFF_HEAP);
    this.decoded = decodedSchema(inputSchema);
    this.types = this.decoded.fields.map((field) => nativeColumnType(field));
    const bounds = options.bounds ? toNativeBatch(decodeDictionaries(options.bounds, this.decoded), this.types) : undefined;
    this.handle = addon.bypassWriterCreate(taskMemoryManager.nativePageTable(), {
      columns: this.types,
      partitioner: options.partitioner,
      ...(bounds ? { bounds } : {}),
      maxRows: options.batchRows ?? 65_536,
      compress: options.compression === 'lz4',
      schemaMessage: segmentSchemaMessage(this.decoded),
    });
  }

  /** Every partition file made so far (the caller removes them). */
  get paths(): string[] {
    return this.files.map((file) => file.path);
  }

  async write(batch: RecordBatch): Promise<void> {
    checkBatchSchema(batch.schema, this.inputSchema, 'the bypass writer');
    if (batch.numRows === 0) return;
    const nativeBatch = toNativeBatch(decodeDictionaries(batch, this.decoded), this.types);
    await this.opLock.run(async () => {
      this.checkOpen();
      if (this.files.length === 0) await this.openFiles();
      if (!this.buffer) await this.grantBuffer();
      await addon.bypassWriterWrite(this.handle, nativeBatch);
    });
  }

  /**
   * Writes every buffered row, then the data file at `path` (its segments in partition order);
   * returns the segments' lengths and CRC-32s and the total.
   */
  async writeDataFile(path: string): Promise<{ lengths: number[]; checksums: number[]; total: number }> {
    return this.opLock.run(async () => {
      this.checkOpen();
      await this.flushBuffer();
      if (this.files.length === 0) {
        const none = new Array<number>(this.numPartitions).fill(0);
        return { lengths: none, checksums: [...none], total: 0 };
      }
      const handle = await open(path, 'w');
      try {
        const segments = await addon.bypassWriterWriteDataFile(this.handle, [{ fd: handle.fd, offset: 0, path }]);
        return { ...segments, total: segments.lengths.reduce((sum, length) => sum + length, 0) };
      } finally {
        await handle.close();
      }
    });
  }

  /** Gives the buffer back when another consumer of the task needs memory and no write runs. */
  async spill(_size: number, _trigger: MemoryConsumer): Promise<number> {
    if (this.closed || this.opLock.isLocked || !this.buffer) return 0;
    return this.opLock.run(async () => {
      if (this.closed || !this.buffer) return 0;
      const held = this.buffer.size;
      this.diskBytesSpilled += await this.flushBuffer();
      this.spillCount++;
      this.memoryBytesSpilled += held;
      return held;
    });
  }

  get metrics(): BypassWriterMetrics {
    if (!this.closed && !this.opLock.isLocked) this.lastState = addon.bypassWriterState(this.handle);
    return {
      rows: this.lastState.rowsWritten,
      messages: this.lastState.messagesWritten,
      cpuTimeMs: this.lastState.workerCpuNanos / 1e6,
      spillCount: this.spillCount,
      memoryBytesSpilled: this.memoryBytesSpilled,
      diskBytesSpilled: this.diskBytesSpilled,
      peakExecutionMemory: this.peakUsed,
    };
  }

  /** Frees the buffer, closes the files and releases the native writer. Idempotent. */
  async close(): Promise<void> {
    await this.opLock.run(async () => {
      if (!this.closed) {
        this.lastState = addon.bypassWriterState(this.handle);
        this.closed = true;
        addon.bypassWriterClose(this.handle);
      }
      if (this.buffer) this.freePage(this.buffer);
      this.buffer = undefined;
      for (const file of this.files) {
        const handle = file.handle;
        file.handle = undefined;
        await handle?.close();
      }
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('the bypass writer');
  }

  private async openFiles(): Promise<void> {
    for (let p = 0; p < this.numPartitions; p++) {
      const file: PartitionFile = { path: this.diskBlockManager.createTempShuffleBlock().path, handle: undefined };
      // Listed before it exists, so that a failure part-way still removes every file made.
      this.files.push(file);
      try {
        // Read back too: the data file copies its bytes.
        file.handle = await open(file.path, 'w+');
      } catch (error) {
        throw ioError(error, `creating the shuffle partition file ${file.path}`);
      }
    }
    addon.bypassWriterSetFiles(
      this.handle,
      this.files.map((file) => ({ fd: file.handle!.fd, offset: 0, path: file.path })),
    );
  }

  /** The preferred buffer, or as much of it as the task can have (it may spill others). */
  private async grantBuffer(): Promise<void> {
    const { minimumBufferBytes, preferredBufferBytes } = addon.bypassWriterState(this.handle);
    const block = await this.allocatePageBetween(Math.min(preferredBufferBytes, BYPASS_BUFFER_BYTES), minimumBufferBytes);
    try {
      addon.bypassWriterSetBuffer(this.handle, block.handle);
    } catch (error) {
      this.freePage(block);
      throw error;
    }
    this.buffer = block;
  }

  /** Writes what is buffered and frees the buffer; returns the bytes written. Under opLock. */
  private async flushBuffer(): Promise<number> {
    if (!this.buffer) return 0;
    const written = await addon.bypassWriterFlush(this.handle);
    this.freePage(this.buffer);
    this.buffer = undefined;
    return written;
  }
}
