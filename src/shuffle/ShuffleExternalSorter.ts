/**
 * The map side's rows in native memory, sorted by reduce partition: Spark's
 * ShuffleExternalSorter (spark-semantics §3.6) as a MemoryConsumer of one task, over the native
 * shuffle sorter (native/core/shuffle_sorter.h: one 8-byte PackedRecordPointer per row).
 *
 * What is tracked, and who reserves it: every data page (min(128 MiB, page size): the packed
 * pointer's 27-bit offset) and the pointer array are granted by the task's TaskMemoryManager
 * before native code writes into them (PagedOperator). Not counted, bounded: while writing, one
 * partition batch (at most `batchRows` rows), its encoded message and a 1 MiB write buffer
 * (shuffle_sorter.h), and the range bounds (partitioner.h).
 *
 * The algorithm:
 *   1. insert(batch): native code copies rows into pages, computes each row's partition and
 *      appends its packed pointer, until a page or the array is full; this class grants what is
 *      asked (a page, or an array twice as large, into which native code copies the pointers) and native code goes on.
 *   2. writeSortedTo(sink): in one native call on a worker thread, radix sort on the partition
 *      id, then the rows of each partition are encoded as IPC record-batch messages (LZ4_FRAME
 *      buffers) and appended to the sink's file (a spill file), partition after partition; then
 *      the pages and the array are freed.
 *   3. spill(): as Spark's, only when this sorter itself is short of memory (trigger == this),
 *      and only with rows in memory: writes a spill file whose per-partition lengths are kept.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { ClosedError } from '../errors.js';
import type { MemoryBlock } from '../memory/MemoryBlock.js';
import type { MemoryConsumer } from '../memory/MemoryConsumer.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import { addon, type NativeColumnType, type NativePartitionFile, type NativePartitioner, type ShuffleSorterHandle } from '../native/addon.js';
import { toNativeBatch } from '../sort/arrowBatches.js';
import { nativeColumnType } from '../sort/columnTypes.js';
import { decodeDictionaries, decodedSchema } from '../sort/dictionaries.js';
import { PagedOperator } from '../sort/PagedOperator.js';
import type { BlockCompression } from '../storage/serialization.js';
import { segmentSchemaMessage } from './segments.js';

/** Spark's PackedRecordPointer.MAXIMUM_PAGE_SIZE_BYTES: 2^27. */
export const MAXIMUM_SHUFFLE_PAGE_SIZE_BYTES = 2 ** 27;
/** Spark's PackedRecordPointer.MAXIMUM_PARTITION_ID + 1. */
export const MAXIMUM_SHUFFLE_PARTITIONS = 2 ** 24;

/** Where sorted partition messages go: a file native code appends to. */
export interface PartitionSink {
  /** The open file, at its end: every partition's messages go there in order. */
  file(): NativePartitionFile;
  /** Bytes of messages gathered before each write. */
  readonly writeBufferBytes: number;
  /** What was appended, per partition. */
  appended(bytesPerPartition: readonly number[]): void;
}

export interface ShuffleSorterOptions {
  readonly partitioner: NativePartitioner;
  /** RANGE: the bounds, a batch of numPartitions − 1 rows of the input's schema. */
  readonly bounds?: RecordBatch;
  readonly compression: BlockCompression;
  /** Rows per encoded message. Default 65,536. */
  readonly batchRows?: number;
  /** Pointer entries of the first array (spark.shuffle.sort.initialBufferSize). Default 4096. */
  readonly initialBufferEntries?: number;
  /** Called by spill() to write a spill file; returns the bytes written. */
  readonly onSpill?: (sorter: ShuffleExternalSorter) => Promise<number>;
}

export interface ShuffleSorterMetrics {
  rows: number;
  /** CPU time of the native work, on worker threads. */
  cpuTimeMs: number;
  sortTimeMs: number;
  spillCount: number;
  memoryBytesSpilled: number;
  diskBytesSpilled: number;
  peakExecutionMemory: number;
}

export class ShuffleExternalSorter extends PagedOperator<ShuffleSorterHandle> {
  protected readonly handle: ShuffleSorterHandle;
  private readonly types: NativeColumnType[];
  private readonly decoded: Schema;
  private closed = false;
  /** Rows per encoded message. */
  readonly batchRows: number;
  private readonly initialBufferEntries: number;
  private spillCount = 0;
  private memoryBytesSpilled = 0;
  private diskBytesSpilled = 0;
  /** The native counters at their last reading (not readable while a worker runs, nor after
   *  close). */
  private lastState = { rowsInserted: 0, sortTimeNs: 0, workerCpuNanos: 0 };
  /** The schema message that heads every segment. */
  readonly schemaMessage: Uint8Array;

  constructor(
    taskMemoryManager: TaskMemoryManager,
    private readonly inputSchema: Schema,
    private readonly options: ShuffleSorterOptions,
  ) {
    super(taskMemoryManager, 'the shuffle sorter', MAXIMUM_SHUFFLE_PAGE_SIZE_BYTES);
    this.decoded = decodedSchema(inputSchema);
    this.types = this.decoded.fields.map((field) => nativeColumnType(field));
    this.schemaMessage = segmentSchemaMessage(this.decoded);
    this.batchRows = options.batchRows ?? 65_536;
    this.initialBufferEntries = options.initialBufferEntries ?? 4096;
    const bounds = options.bounds ? toNativeBatch(decodeDictionaries(options.bounds, this.decoded), this.types) : undefined;
    this.handle = addon.shuffleSorterCreate(taskMemoryManager.nativePageTable(), {
      columns: this.types,
      partitioner: options.partitioner,
      ...(bounds ? { bounds } : {}),
    });
  }

  /** The schema of what comes out: the input's, dictionary columns decoded. */
  get schema(): Schema {
    return this.decoded;
  }

  get records(): number {
    return this.closed ? 0 : addon.shuffleSorterState(this.handle).records;
  }

  async insert(batch: RecordBatch): Promise<void> {
    if (this.closed) throw new ClosedError(this.what);
    this.checkSchema(batch.schema, this.inputSchema);
    if (batch.numRows === 0) return;
    const nativeBatch = toNativeBatch(decodeDictionaries(batch, this.decoded), this.types);
    await this.insertRows(batch.numRows, (h, row) => addon.shuffleSorterInsert(h, nativeBatch, row), () => this.growPointerArray());
  }

  /** Sorts the rows in memory by partition and appends each partition's messages to `sink`;
   *  then frees the pages and the array. Returns the rows written. */
  async writeSortedTo(sink: PartitionSink): Promise<number> {
    return this.opLock.run(async () => {
      if (this.closed) throw new ClosedError(this.what);
      const rows = addon.shuffleSorterState(this.handle).records;
      if (rows > 0) {
        const compress = this.options.compression === 'lz4';
        sink.appended(await addon.shuffleSorterWriteSorted(this.handle, [sink.file()], this.batchRows, compress, sink.writeBufferBytes));
      }
      this.lastState = addon.shuffleSorterState(this.handle);
      addon.shuffleSorterReset(this.handle);
      this.freeInMemoryData();
      return rows;
    });
  }

  /** Spark's rule: the shuffle sorter spills only for itself, and only with rows in memory. */
  async spill(_size: number, trigger: MemoryConsumer): Promise<number> {
    if (trigger !== this || this.closed || this.options.onSpill === undefined) return 0;
    if (addon.shuffleSorterState(this.handle).records === 0) return 0;
    const held = this.used;
    this.diskBytesSpilled += await this.options.onSpill(this);
    this.spillCount++;
    this.memoryBytesSpilled += held;
    return held;
  }

  get metrics(): ShuffleSorterMetrics {
    if (!this.closed && !this.opLock.isLocked) this.lastState = addon.shuffleSorterState(this.handle);
    return {
      rows: this.lastState.rowsInserted,
      cpuTimeMs: this.lastState.workerCpuNanos / 1e6,
      sortTimeMs: this.lastState.sortTimeNs / 1e6,
      spillCount: this.spillCount,
      memoryBytesSpilled: this.memoryBytesSpilled,
      diskBytesSpilled: this.diskBytesSpilled,
      peakExecutionMemory: this.peakUsed,
    };
  }

  /** Frees every page and releases the native sorter. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.opLock.run(() => {
      if (this.closed) return;
      this.lastState = addon.shuffleSorterState(this.handle);
      this.closed = true;
      addon.shuffleSorterClose(this.handle);
      this.freeInMemoryData();
    });
  }

  protected isClosed(): boolean {
    return this.closed;
  }

  protected nativeAddDataPage(page: MemoryBlock): void {
    addon.shuffleSorterAddDataPage(this.handle, page.handle);
  }

  private async growPointerArray(): Promise<void> {
    const current = this.array;
    // 8 bytes a row, twice: half is the radix sort's scratch.
    const bytes = current ? current.size * 2 : this.initialBufferEntries * 16;
    // Granting it may spill this sorter, which frees the old array; the new one serves either way.
    const array = await this.allocateArray(bytes / 8);
    await this.replaceArray(array, (h) => addon.shuffleSorterReplacePointerArray(h, array.handle));
  }
}
