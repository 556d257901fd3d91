/**
 * Group-by aggregation over more groups than fit in memory: Spark's hash aggregation over a
 * BytesToBytesMap with its sort-based fallback (spark-semantics §3.10-3.11), as a MemoryConsumer
 * of one task over native pages (native/core/hash_aggregator.h).
 *
 * What is tracked, and who reserves it: the map's slot array and every data page are granted by
 * the task's TaskMemoryManager before native code writes into them; the merge's read buffers
 * are acquired before the output starts (SpillingOperator). Not counted, all bounded: the output
 * batch being built (with its staging of combined groups), one spill block being written, and
 * 28 KiB of per-chunk scratch (native/core/hash_aggregator.cc's Chunk).
 *
 * The algorithm:
 *   1. insert(batch): native code finds or adds each row's group in the map and updates its
 *      buffers, until the map is full or a page is; then this class grants a slot array twice
 *      as large or a page, and native code goes on. A grant may spill other consumers, or this
 *      one.
 *   2. When the slot array may not grow (2^29 slots, or the memory is not there), the groups are
 *      sorted by key and spilled as a run, the map starts empty, and insertion goes on (Spark's
 *      fallback to UnsafeKVExternalSorter). spill() does the same for any consumer's request.
 *   3. results(): reserve read buffers (merging the smallest runs first when there are too many
 *      for the memory), then merge the runs with the sorted in-memory groups, combining the
 *      buffers of equal keys as they meet: the final pass holds one group at a time.
 *   4. close() frees every page and byte and deletes every file, after errors too; the end of
 *      results() (or abandoning it) does it.
 *
 * Modes: 'complete' aggregates raw rows into final values; 'partial' (map side) outputs keys and
 * buffers; 'final' (reduce side) takes a partial aggregation's output and finishes it, so a
 * shuffle can sit between the two. Output groups come in key order (ascending, nulls first);
 * aggregates.ts has the functions' types and rules.
 */
import { Field, type RecordBatch, Schema } from 'apache-arrow';
import {
  ClosedError,
  InvalidArgumentError,
  OutOfMemoryError,
  SchemaMismatchError,
  UnsupportedTypeError,
} from '../errors.js';
import type { MemoryBlock } from '../memory/MemoryBlock.js';
import type { MemoryConsumer } from '../memory/MemoryConsumer.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import {
  addon,
  type AggregatorHandle,
  AggregationMode,
  type NativeAggregatorMetrics,
  type NativeColumnType,
  type SegmentReaderHandle,
  type SpillRun,
} from '../native/addon.js';
import { nativeOutputBatches, toNativeBatch } from '../sort/arrowBatches.js';
import { fieldIndex, nativeColumnType } from '../sort/columnTypes.js';
import { decodeDictionaries, decodedSchema } from '../sort/dictionaries.js';
import { positiveInteger, SpillingOperator, type SpillOptions } from '../sort/SpillingOperator.js';
import {
  type AggregateSpec,
  bufferFields,
  nativeAggregate,
  parseAggregate,
  type ResolvedAggregate,
  resolveAggregates,
  resultField,
} from './aggregates.js';

/** Whole batches a native insert from a reader takes per call: a kill waits for at most this
 *  many (a 65,536-row batch is ~1 ms of A1's work). */
export const READER_BATCHES_PER_CALL = 8;

export type AggregationModeName = 'partial' | 'final' | 'complete';

export interface HashAggregatorOptions extends SpillOptions {
  /** The group keys (none: one global group, which exists even for no rows). */
  readonly groupBy: readonly string[];
  /** "count(*)", "sum(v)", { fn: 'avg', column: 'v', as: 'mean' }, ... (aggregates.ts). */
  readonly aggregates: readonly (string | AggregateSpec)[];
  /** Default 'complete'. In 'final' mode the input is a partial aggregation's output, and the
   *  keys and aggregates must be the ones that produced it. */
  readonly mode?: AggregationModeName;
  /** Groups per output batch. Default 65,536. */
  readonly batchRows?: number;
  /** Slots of the first slot array (a power of two, 64 to 2^29). Default 16,384 (Spark's). */
  readonly initialCapacity?: number;
}

export interface AggregationMetrics {
  /** CPU time of the native work, on worker threads. */
  readonly cpuTimeMs: number;
  readonly rowsIn: number;
  readonly groupsOut: number;
  readonly spillCount: number;
  /** Bytes of pages and slot arrays freed by spilling. */
  readonly memoryBytesSpilled: number;
  /** Bytes written to spill files (merge passes included). */
  readonly diskBytesSpilled: number;
  readonly peakExecutionMemory: number;
  /** Slots looked at per key lookup (Spark's avgHashProbe); 1 is ideal. */
  readonly hashProbesPerRow: number;
  readonly mergePasses: number;
  readonly sortTimeMs: number;
  readonly spillWriteTimeMs: number;
}

type State = 'inserting' | 'reading' | 'closed';

const MODES: Record<AggregationModeName, AggregationMode> = {
  partial: AggregationMode.PARTIAL,
  final: AggregationMode.FINAL,
  complete: AggregationMode.COMPLETE,
};
const MAX_SLOTS = 2 ** 29;
const SLOT_BYTES = 16;

export class HashAggregator extends SpillingOperator<AggregatorHandle> {
  protected readonly handle: AggregatorHandle;
  private readonly inputSchema: Schema;
  private readonly decodedInput: Schema;
  /** Input fields passed to native code, in order: keys, then what the aggregates read. */
  private readonly inputColumns: number[];
  private readonly nativeTypes: NativeColumnType[];
  private readonly batchRows: number;
  private readonly initialCapacity: number;
  private state: State = 'inserting';
  /** Spills so far (also of an empty map), to tell whether a grant made this aggregation spill. */
  private spillsOfThis = 0;
  /** The native metrics at their last reading. They cannot be read while a native operation
   *  runs (its worker writes them; the addon refuses), nor once the native map is closed. */
  private lastMetrics: NativeAggregatorMetrics = {
    workerCpuNanos: 0,
    rowsIn: 0,
    groupsOut: 0,
    spillCount: 0,
    diskBytesSpilled: 0,
    keyLookups: 0,
    hashProbes: 0,
    mergePasses: 0,
    sortTimeNs: 0,
    spillWriteTimeNs: 0,
  };

  /** The schema of the output: the keys, then the results (or, partial, the buffers). */
  readonly schema: Schema;

  private constructor(taskMemoryManager: TaskMemoryManager, inputSchema: Schema, options: HashAggregatorOptions) {
    super(taskMemoryManager, options, 'the aggregation');
    this.inputSchema = inputSchema;
    this.batchRows = positiveInteger(options.batchRows ?? 65_536, 'batchRows');
    this.initialCapacity = positiveInteger(options.initialCapacity ?? 16_384, 'initialCapacity');
    if (this.initialCapacity < 64 || this.initialCapacity > MAX_SLOTS || (this.initialCapacity & (this.initialCapacity - 1)) !== 0) {
      throw new InvalidArgumentError(`initialCapacity must be a power of two from 64 to 2^29, got ${this.initialCapacity}`);
    }
    const plan = HashAggregator.plan(inputSchema, options);
    this.decodedInput = plan.decodedInput;
    this.inputColumns = plan.inputColumns;
    this.nativeTypes = plan.nativeTypes;
    this.schema = plan.schema;
    this.handle = addon.aggregatorCreate(taskMemoryManager.nativePageTable(), {
      inputTypes: this.nativeTypes,
      numKeys: plan.numKeys,
      mode: MODES[plan.mode],
      aggregates: plan.nativeSpecs,
      codec: this.compressed ? 1 : 0,
      spillBlockBytes: this.spillBlockBytes,
    });
  }

  /** The output schema of an aggregation of `inputSchema`; throws, naming the column, what
   *  create() would throw for unknown columns, unsupported types or misused functions. */
  static outputSchema(inputSchema: Schema, options: Pick<HashAggregatorOptions, 'groupBy' | 'aggregates' | 'mode'>): Schema {
    return HashAggregator.plan(inputSchema, options).schema;
  }

  /** Resolves keys and aggregates against the input, without native work. */
  private static plan(inputSchema: Schema, options: Pick<HashAggregatorOptions, 'groupBy' | 'aggregates' | 'mode'>) {
    const decodedInput = decodedSchema(inputSchema);
    const mode = options.mode ?? 'complete';
    if (!Object.hasOwn(MODES, mode)) throw new InvalidArgumentError(`mode must be 'partial', 'final' or 'complete', got ${String(mode)}`);
    const fields = decodedInput.fields;
    const keys = options.groupBy.map((name) => fieldIndex(fields, name));
    if (new Set(keys).size !== keys.length) throw new InvalidArgumentError('a group key is named twice');
    const keyFields = keys.map((k) => fields[k]!.clone({ nullable: true }));

    let aggregates: ResolvedAggregate[];
    const nativeSpecs = [];
    const inputColumns = [...keys];
    if (mode === 'final') {
      // The input is the partial output: each aggregate's buffer columns, found by name. Their
      // types say what the partial aggregation read (a float64 sum buffer: a float sum).
      const partial = options.aggregates.map((raw) => resolveFinal(decodedInput, raw));
      aggregates = partial;
      for (const aggregate of partial) {
        const first = inputColumns.length;
        for (const buffer of bufferFields(aggregate)) {
          const index = fieldIndex(fields, buffer.name);
          if (String(fields[index]!.type) !== String(buffer.type)) {
            throw new SchemaMismatchError(
              `column "${buffer.name}" has type ${String(fields[index]!.type)}; the final aggregation expects ` +
                `${String(buffer.type)}, as the partial aggregation produces it`,
            );
          }
          inputColumns.push(index);
        }
        nativeSpecs.push(nativeAggregate(aggregate, first));
      }
    } else {
      aggregates = resolveAggregates(options.aggregates, fields);
      for (const aggregate of aggregates) {
        let column = 0;
        if (aggregate.input !== undefined) {
          const index = fields.indexOf(aggregate.input);
          column = inputColumns.indexOf(index, keys.length);
          if (column < 0) column = inputColumns.push(index) - 1;
        }
        nativeSpecs.push(nativeAggregate(aggregate, column));
      }
    }
    const resultFields =
      mode === 'partial' ? aggregates.flatMap((a) => bufferFields(a)) : aggregates.map((a) => resultField(a));
    const names = [...keyFields, ...resultFields].map((f) => f.name);
    const repeated = names.find((name, i) => names.indexOf(name) !== i);
    if (repeated !== undefined) {
      throw new InvalidArgumentError(`the output would have two columns named "${repeated}"; name one with "as"`);
    }
    return {
      decodedInput,
      mode,
      numKeys: keys.length,
      inputColumns,
      nativeSpecs,
      nativeTypes: inputColumns.map((index) => nativeColumnType(fields[index]!)),
      schema: new Schema([...keyFields, ...resultFields]),
    };
  }

  /**
   * An aggregation of batches of `schema`. Unknown columns, unsupported types and functions that
   * cannot take a column's type throw here, naming the column, before any work.
   */
  static async create(
    taskMemoryManager: TaskMemoryManager,
    schema: Schema,
    options: HashAggregatorOptions,
  ): Promise<HashAggregator> {
    const aggregator = new HashAggregator(taskMemoryManager, schema, options);
    try {
      await aggregator.adoptNewArray(aggregator.initialCapacity);
    } catch (error) {
      await aggregator.close();
      throw error;
    }
    return aggregator;
  }

  /** Adds one batch; it must have the aggregation's input schema. */
  async insert(batch: RecordBatch): Promise<void> {
    this.expectInserting('insert()');
    this.checkSchema(batch.schema, this.inputSchema);
    if (batch.numRows === 0) return;
    const nativeBatch = toNativeBatch(decodeDictionaries(batch, this.decodedInput), this.nativeTypes, this.inputColumns);
    await this.insertRows(batch.numRows, (h, row) => addon.aggregatorInsert(h, nativeBatch, row), () => this.growSlotArray());
  }

  /**
   * Inserts the rest of an IPC reader's batches (of a schema with the aggregation's input
   * columns) natively: a worker reads and inserts up to {@link READER_BATCHES_PER_CALL} batches
   * a call (native/core/batch_pull.h), with no JavaScript per batch; between calls this grants
   * what the map asks for, reports the rows inserted, and calls `beforeEachCall`, which may
   * throw to stop (a kill). The reader stays the caller's to close.
   */
  async insertFromReader(
    reader: SegmentReaderHandle,
    schema: Schema,
    progress: { onRows(rows: number): void; beforeEachCall(): void },
  ): Promise<void> {
    this.expectInserting('insertFromReader()');
    this.checkSchema(schema, this.inputSchema);
    await this.insertWithGrants(
      async (h) => {
        const step = await addon.aggregatorInsertFromReader(h, reader, this.inputColumns, READER_BATCHES_PER_CALL);
        progress.onRows(step.rows);
        return step;
      },
      () => this.growSlotArray(),
      progress.beforeEachCall,
    );
  }

  /**
   * The groups as batches of up to `batchRows` groups, in key order. Can be iterated once; when
   * it ends, or is abandoned, the aggregation frees its memory and files.
   */
  async *results(): AsyncGenerator<RecordBatch, void, undefined> {
    this.expectInserting('results()');
    this.state = 'reading';
    try {
      await this.reserveMergeMemory();
      await this.run((h) => addon.aggregatorBeginOutput(h, [...this.runs]));
      yield* nativeOutputBatches(this.schema, () => this.run((h) => addon.aggregatorNextBatch(h, this.batchRows)));
    } finally {
      await this.close();
    }
  }

  /** Spark's spill(size, trigger), honoured for any trigger: writes the groups in memory (or,
   *  while results are read, the unread ones) as a run sorted by key; returns the bytes freed. */
  async spill(_size: number, trigger: MemoryConsumer): Promise<number> {
    return this.spillWith(
      () => {
        const state = addon.aggregatorState(this.handle);
        if (state.outputStarted) return state.outputReadsMemory;
        // An empty map gives up its slot array and pages to another consumer, never to itself:
        // it would ask for them again at once.
        const holds = trigger !== this && (this.array !== undefined || this.dataPages.length > 0);
        return state.groupsInMemory > 0 || holds;
      },
      (path) => {
        this.spillsOfThis++;
        return addon.aggregatorSpill(this.handle, path);
      },
    );
  }

  get metrics(): AggregationMetrics {
    if (this.state !== 'closed' && !this.opLock.isLocked) this.lastMetrics = addon.aggregatorMetrics(this.handle);
    const m = this.lastMetrics;
    return {
      rowsIn: m.rowsIn,
      cpuTimeMs: m.workerCpuNanos / 1e6,
      groupsOut: m.groupsOut,
      spillCount: m.spillCount,
      memoryBytesSpilled: this.memoryBytesSpilled,
      diskBytesSpilled: m.diskBytesSpilled,
      peakExecutionMemory: this.peakUsed,
      hashProbesPerRow: m.keyLookups === 0 ? 0 : m.hashProbes / m.keyLookups,
      mergePasses: m.mergePasses,
      sortTimeMs: m.sortTimeNs / 1e6,
      spillWriteTimeMs: m.spillWriteTimeNs / 1e6,
    };
  }

  /** What the aggregation holds in memory now (for tests and reports). */
  get inMemory(): { groups: number; dataPages: number; slotArrayBytes: number } {
    if (this.state === 'closed') return { groups: 0, dataPages: 0, slotArrayBytes: 0 };
    const state = addon.aggregatorState(this.handle);
    return { groups: state.groupsInMemory, dataPages: this.dataPages.length, slotArrayBytes: this.array?.size ?? 0 };
  }

  protected override afterOperation(): void {
    this.lastMetrics = addon.aggregatorMetrics(this.handle);
  }

  protected closeNative(): void {
    this.lastMetrics = addon.aggregatorMetrics(this.handle);
    this.state = 'closed';
    addon.aggregatorClose(this.handle);
  }

  protected isClosed(): boolean {
    return this.state === 'closed';
  }

  protected hasRecordsInMemory(): boolean {
    return addon.aggregatorState(this.handle).groupsInMemory > 0;
  }

  protected nativeAddDataPage(page: MemoryBlock): void {
    addon.aggregatorAddDataPage(this.handle, page.handle);
  }

  protected nativeMergeRuns(runs: SpillRun[], path: string): Promise<SpillRun> {
    return addon.aggregatorMergeRuns(this.handle, runs, path);
  }

  private expectInserting(what: string): void {
    if (this.state === 'closed') throw new ClosedError('the aggregation');
    if (this.state !== 'inserting') throw new InvalidArgumentError(`${what} cannot be called once the results have been requested`);
  }

  private async adoptNewArray(slots: number): Promise<void> {
    const spillsBefore = this.spillsOfThis;
    let array = await this.allocateArray((slots * SLOT_BYTES) / 8);
    if (this.spillsOfThis !== spillsBefore && slots > this.initialCapacity) {
      // Granting it made this aggregation spill: the map is empty now and starts small again,
      // leaving the memory to pages.
      this.freePage(array);
      array = await this.allocateArray((this.initialCapacity * SLOT_BYTES) / 8);
    }
    await this.replaceArray(array, (h) => addon.aggregatorAdoptSlotArray(h, array.handle));
  }

  /**
   * The map is full: double its slot array (Spark's growAndRehash), or, when it may not grow,
   * sort and spill the groups and start again small (Spark's fallback to sorting).
   */
  private async growSlotArray(): Promise<void> {
    const slots = (this.array?.size ?? 0) / SLOT_BYTES;
    if (slots === 0) {
      await this.adoptNewArray(this.initialCapacity);
      return;
    }
    if (slots * 2 <= MAX_SLOTS) {
      try {
        await this.adoptNewArray(slots * 2);
        return;
      } catch (error) {
        if (!(error instanceof OutOfMemoryError)) throw error;
      }
    }
    await this.spill(Number.MAX_SAFE_INTEGER, this);
    if (this.array === undefined) await this.adoptNewArray(this.initialCapacity);
  }
}

/** In final mode, resolves an aggregate against a stand-in for the column the partial
 *  aggregation read: named as that column, typed as the buffer column says (a sum buffer's
 *  type, a min's). */
function resolveFinal(decodedInput: Schema, raw: string | AggregateSpec): ResolvedAggregate {
  const spec = parseAggregate(raw);
  if (spec.column === undefined) return resolveAggregates([spec], [])[0]!;
  const name = spec.as ?? `${spec.fn}(${spec.column})`;
  const bufferName = spec.fn === 'avg' ? `${name}.sum` : name;
  const buffer = decodedInput.fields[fieldIndex(decodedInput.fields, bufferName)]!;
  try {
    return resolveAggregates([spec], [new Field(spec.column, buffer.type, true)])[0]!;
  } catch (error) {
    if (!(error instanceof UnsupportedTypeError)) throw error;
    throw new SchemaMismatchError(
      `column "${bufferName}" has type ${String(buffer.type)}, which no partial ${spec.fn}() produces; ` +
        'the final aggregation takes the partial aggregation’s output as it is',
    );
  }
}
