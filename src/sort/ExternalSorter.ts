/**
 * Sorts Arrow record batches larger than memory: Spark's UnsafeExternalSorter
 * (spark-semantics §3.4) as a MemoryConsumer of one task, over native pages.
 *
 * What is tracked, and who reserves it: every data page and the pointer array are granted by
 * the task's TaskMemoryManager before native code writes into them (DESIGN.md §2); the read
 * buffers of the final merge are acquired before the merge starts. Native code allocates none
 * of these itself. Not counted: the output batch being built (the caller's once returned) and
 * one spill block being written (1 MiB by default); both are bounded constants.
 *
 * The algorithm:
 *   1. insert(batch): native code copies rows into the current page and (prefix, address)
 *      entries into the pointer array until either is full, then says what it needs; this
 *      class acquires a page (max(page size, record)) or a pointer array twice as large, and
 *      native code goes on from the row it stopped at. A grant may make the task manager spill
 *      other consumers, or this sorter itself as the last resort.
 *   2. spill(): the in-memory records are sorted (radix on the prefix, comparator on ties) and
 *      written as one run to a file in the local directories; pages and array are freed. It is
 *      called by the task manager on a shortfall, whoever asked.
 *   3. sortedBatches(): reserve one read buffer per run (and for the in-memory records); if that
 *      much cannot be had, merge the smallest runs into one, pass after pass, each pass within
 *      what it could acquire. Then merge the runs and the in-memory records with a loser tree,
 *      producing batches of `batchRows` rows.
 *   4. A spill request while the output is read writes the unread in-memory records to a run
 *      and frees the pages; reading continues from that run (Spark's SpillableIterator).
 *   5. close() frees every page and byte and deletes every file, after errors too; it is also
 *      what the end of sortedBatches() (or abandoning it) does.
 *
 * Every native operation runs on a libuv worker thread, one at a time per sorter (opLock); the
 * lock is never held while memory is acquired, because acquiring may spill this very sorter.
 */
import type { RecordBatch, Schema, TypeMap } from 'apache-arrow';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import type { MemoryBlock } from '../memory/MemoryBlock.js';
import type { MemoryConsumer } from '../memory/MemoryConsumer.js';
import { MAXIMUM_PAGE_SIZE_BYTES, type TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import { addon, type NativeColumnType, type NativeSorterMetrics, type SorterHandle, type SpillRun } from '../native/addon.js';
import { nativeOutputBatches, toNativeBatch } from './arrowBatches.js';
import { fieldIndex, nativeColumnType } from './columnTypes.js';
import { decodeDictionaries, decodedSchema } from './dictionaries.js';
import { positiveInteger, SpillingOperator, type SpillOptions } from './SpillingOperator.js';

/** A sort key: a column, ascending unless `descending`; nulls first when ascending and last
 *  when descending unless `nullsFirst` says otherwise (Spark's defaults). */
export interface SortKey {
  readonly column: string;
  readonly descending?: boolean;
  readonly nullsFirst?: boolean;
}

export interface ExternalSorterOptions extends SpillOptions {
  /** Column names (ascending) or SortKey objects, most significant first. No keys: rows keep
   *  their insertion order (Spark's sorter without a record comparator), which
   *  batchesInInsertionOrder() can read any number of times. */
  readonly keys: readonly (string | SortKey)[];
  /** Rows per output batch. Default 65,536. */
  readonly batchRows?: number;
  /** Pointer entries of the first array (Spark's shuffle.sort.initialBufferSize). Default 4096. */
  readonly initialBufferEntries?: number;
}

export interface SorterMetrics {
  /** CPU time of the native work, on worker threads. */
  readonly cpuTimeMs: number;
  readonly rows: number;
  readonly sortTimeMs: number;
  readonly spillWriteTimeMs: number;
  readonly spillCount: number;
  /** Bytes of pages and pointer arrays freed by spilling. */
  readonly memoryBytesSpilled: number;
  /** Bytes written to spill files (merge passes included). */
  readonly diskBytesSpilled: number;
  readonly mergePasses: number;
  readonly peakExecutionMemory: number;
}

type State = 'inserting' | 'reading' | 'rereading' | 'closed';

export class ExternalSorter<T extends TypeMap = TypeMap> extends SpillingOperator<SorterHandle> {
  protected readonly handle: SorterHandle;
  private readonly types: NativeColumnType[];
  private readonly batchRows: number;
  private readonly initialBufferEntries: number;
  private readonly hasKeys: boolean;
  private state: State = 'inserting';
  /** The native metrics at their last reading. They cannot be read while a native operation
   *  runs (its worker writes them; the addon refuses), nor once the native sorter is closed. */
  private lastMetrics: NativeSorterMetrics = {
    workerCpuNanos: 0,
    rowsInserted: 0,
    sortTimeNs: 0,
    spillWriteTimeNs: 0,
    spillCount: 0,
    diskBytesSpilled: 0,
    mergePasses: 0,
  };

  /** The schema of the output: the input's, with dictionary columns as their value type. */
  readonly schema: Schema<T>;

  private constructor(
    taskMemoryManager: TaskMemoryManager,
    private readonly inputSchema: Schema<T>,
    options: ExternalSorterOptions,
  ) {
    super(taskMemoryManager, options, 'the sorter');
    this.schema = decodedSchema(inputSchema) as Schema<T>;
    const schema = this.schema;
    this.types = schema.fields.map((field) => nativeColumnType(field));
    const keys = options.keys.map((input) => {
      const key = typeof input === 'string' ? { column: input } : input;
      const column = fieldIndex(schema.fields, key.column);
      const descending = key.descending ?? false;
      return { column, descending, nullsFirst: key.nullsFirst ?? !descending };
    });
    this.batchRows = positiveInteger(options.batchRows ?? 65_536, 'batchRows');
    this.initialBufferEntries = positiveInteger(options.initialBufferEntries ?? 4096, 'initialBufferEntries');
    this.hasKeys = keys.length > 0;
    this.handle = addon.sorterCreate(taskMemoryManager.nativePageTable(), {
      columns: this.types,
      keys,
      codec: this.compressed ? 1 : 0,
      spillBlockBytes: this.spillBlockBytes,
    });
  }

  /**
   * A sorter for batches of `schema`. Unsupported column types and unknown key columns throw
   * here, before any work. Allocates the first pointer array, as Spark's constructor does.
   */
  static async create<T extends TypeMap>(
    taskMemoryManager: TaskMemoryManager,
    schema: Schema<T>,
    options: ExternalSorterOptions,
  ): Promise<ExternalSorter<T>> {
    const sorter = new ExternalSorter(taskMemoryManager, schema, options);
    try {
      await sorter.allocateInitialArray();
    } catch (error) {
      await sorter.close();
      throw error;
    }
    return sorter;
  }

  /** Adds one batch; it must have the sorter's schema. */
  async insert(batch: RecordBatch<T>): Promise<void> {
    this.expectState('inserting', 'insert()');
    this.checkSchema(batch.schema, this.inputSchema);
    if (batch.numRows === 0) return;
    const nativeBatch = toNativeBatch(decodeDictionaries(batch, this.schema), this.types);
    await this.insertRows(batch.numRows, (h, row) => addon.sorterInsert(h, nativeBatch, row), () => this.growPointerArray());
  }

  /**
   * The sorted rows as batches of up to `batchRows` rows. Can be iterated once; when it ends,
   * or is abandoned, the sorter frees its memory and files.
   */
  async *sortedBatches(): AsyncGenerator<RecordBatch<T>, void, undefined> {
    this.expectState('inserting', 'sortedBatches()');
    this.state = 'reading';
    try {
      await this.reserveMergeMemory();
      await this.run((h) => addon.sorterBeginOutput(h, [...this.runs]));
      yield* nativeOutputBatches(this.schema, () => this.run((h) => addon.sorterNextBatch(h, this.batchRows)));
    } finally {
      await this.close();
    }
  }

  /**
   * The rows in insertion order, from row `startIndex` on (Spark's getIterator), for a sorter
   * created without keys. Reading does not consume them: rows can be inserted afterwards and
   * read again. Skipping past the end throws, as Spark's iterator does.
   */
  async *batchesInInsertionOrder(startIndex = 0): AsyncGenerator<RecordBatch<T>, void, undefined> {
    if (this.hasKeys) {
      throw new InvalidArgumentError('batchesInInsertionOrder() reads a sorter created without keys; use sortedBatches()');
    }
    this.expectState('inserting', 'batchesInInsertionOrder()');
    const rows = addon.sorterMetrics(this.handle).rowsInserted;
    if (!Number.isSafeInteger(startIndex) || startIndex < 0 || startIndex > rows) {
      throw new InvalidArgumentError(`Failed to move the iterator ${startIndex} steps forward: the sorter holds ${rows} rows`);
    }
    this.state = 'rereading';
    try {
      await this.reserveMergeMemory();
      await this.run((h) => addon.sorterBeginOutput(h, [...this.runs]));
      let skip = startIndex;
      for await (const batch of nativeOutputBatches(this.schema, () => this.run((h) => addon.sorterNextBatch(h, this.batchRows)))) {
        if (skip >= batch.numRows) {
          skip -= batch.numRows;
          continue;
        }
        yield skip > 0 ? batch.slice(skip) : batch;
        skip = 0;
      }
    } finally {
      if (this.state === 'rereading') {
        await this.run((h) => addon.sorterEndOutput(h));
        this.releaseReadReservation();
        this.state = 'inserting';
      }
    }
  }

  /** Spark's spill(size, trigger): sorts and writes the in-memory records, or, while output is
   *  read, the unread ones; returns the bytes of memory freed. Honours any trigger. While rows
   *  are re-read in insertion order nothing is spilled: that reading must not consume them. */
  async spill(_size: number, _trigger: MemoryConsumer): Promise<number> {
    if (this.state === 'rereading') return 0;
    return this.spillWith(
      () => {
        const state = addon.sorterState(this.handle);
        return state.outputStarted ? state.outputReadsMemory : state.inMemoryRecords > 0;
      },
      (path) => addon.sorterSpill(this.handle, path),
    );
  }

  get metrics(): SorterMetrics {
    if (this.state !== 'closed' && !this.opLock.isLocked) this.lastMetrics = addon.sorterMetrics(this.handle);
    const m = this.lastMetrics;
    return {
      rows: m.rowsInserted,
      cpuTimeMs: m.workerCpuNanos / 1e6,
      sortTimeMs: m.sortTimeNs / 1e6,
      spillWriteTimeMs: m.spillWriteTimeNs / 1e6,
      spillCount: m.spillCount,
      memoryBytesSpilled: this.memoryBytesSpilled,
      diskBytesSpilled: m.diskBytesSpilled,
      mergePasses: m.mergePasses,
      peakExecutionMemory: this.peakUsed,
    };
  }

  /** What the sorter holds in memory now (for tests and reports). */
  get inMemory(): { records: number; dataPages: number; pointerArrayBytes: number } {
    if (this.state === 'closed') return { records: 0, dataPages: 0, pointerArrayBytes: 0 };
    const state = addon.sorterState(this.handle);
    return { records: state.inMemoryRecords, dataPages: this.dataPages.length, pointerArrayBytes: this.array?.size ?? 0 };
  }

  protected override afterOperation(): void {
    this.lastMetrics = addon.sorterMetrics(this.handle);
  }

  protected closeNative(): void {
    this.lastMetrics = addon.sorterMetrics(this.handle);
    this.state = 'closed';
    addon.sorterClose(this.handle);
  }

  protected isClosed(): boolean {
    return this.state === 'closed';
  }

  protected hasRecordsInMemory(): boolean {
    return addon.sorterState(this.handle).inMemoryRecords > 0;
  }

  protected nativeAddDataPage(page: MemoryBlock): void {
    addon.sorterAddDataPage(this.handle, page.handle);
  }

  protected nativeMergeRuns(runs: SpillRun[], path: string): Promise<SpillRun> {
    return addon.sorterMergeRuns(this.handle, runs, path);
  }

  private expectState(expected: State, what: string): void {
    if (this.state === 'closed') throw new ClosedError('the sorter');
    if (this.state !== expected) {
      throw new InvalidArgumentError(
        this.state === 'rereading'
          ? `${what} cannot be called while rows are being read in insertion order; finish that first`
          : `${what} cannot be called once the sorted output has been requested`,
      );
    }
  }

  private async allocateInitialArray(): Promise<void> {
    const array = await this.allocateArray(this.initialBufferEntries * 2);
    await this.adoptPointerArray(array);
  }

  private async adoptPointerArray(array: MemoryBlock): Promise<void> {
    try {
      await this.run((h) => addon.sorterReplacePointerArray(h, array.handle));
    } catch (error) {
      this.freePage(array);
      throw error;
    }
    const previous = this.array;
    this.array = array;
    if (previous) this.freePage(previous);
  }

  /**
   * Spark's growPointerArrayIfNecessary: double the array, or start over after a spill. The
   * array grows in place (its page is remapped, not copied), so growth neither doubles the
   * memory for a moment nor touches the old entries again.
   */
  private async growPointerArray(): Promise<void> {
    const array = this.array;
    if (array === undefined) {
      await this.allocateInitialArray();
      return;
    }
    const doubled = array.size * 2;
    let grown = false;
    if (doubled > MAXIMUM_PAGE_SIZE_BYTES) {
      await this.spill(Number.MAX_SAFE_INTEGER, this);
    } else {
      grown = await this.growPage(array, doubled);
    }
    if (this.array === undefined) {
      // A spill emptied the sorter meanwhile (and freed the array): start small again.
      await this.allocateInitialArray();
      return;
    }
    if (!grown) throw this.taskMemoryManager.outOfMemory(`Unable to grow the pointer array to ${doubled} bytes`);
    await this.run((h) => addon.sorterPointerArrayGrown(h));
  }
}
