/**
 * The typed contract of the native addon (build/Release/tungsten.node): every function it
 * exports, with the types it accepts and returns. This is the only file that loads the addon;
 * everything else imports {@link addon} from here.
 *
 * Conventions across the boundary:
 * - byte counts are JavaScript numbers holding whole numbers in [0, 2^53 − 1];
 * - record addresses and raw base addresses are `bigint` (64-bit unsigned patterns);
 * - handles are opaque branded objects, checked by type tag on every call: a handle of the
 *   wrong kind, or a closed one, throws InvalidHandleError rather than crashing;
 * - failures arrive as the classes of src/errors.ts (the factory is registered below).
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorFromCode } from '../errors.js';

declare const pageTableBrand: unique symbol;
declare const blockBrand: unique symbol;
declare const sorterBrand: unique symbol;
declare const aggregatorBrand: unique symbol;
declare const shuffleSorterBrand: unique symbol;
declare const segmentReaderBrand: unique symbol;
declare const bypassWriterBrand: unique symbol;
/** A task's native page table. Closed by {@link NativeAddon.pageTableClose}. */
export type PageTableHandle = { readonly [pageTableBrand]: true };
/** A native memory block: a page of a page table, or a direct allocation. */
export type BlockHandle = { readonly [blockBrand]: true };

/** A native external sorter. Closed by {@link NativeAddon.sorterClose}. */
export type SorterHandle = { readonly [sorterBrand]: true };

/** A native hash aggregation. Closed by {@link NativeAddon.aggregatorClose}. */
export type AggregatorHandle = { readonly [aggregatorBrand]: true };

/** A native shuffle sorter. Closed by {@link NativeAddon.shuffleSorterClose}. */
export type ShuffleSorterHandle = { readonly [shuffleSorterBrand]: true };

/** A native bypass shuffle writer. Closed by {@link NativeAddon.bypassWriterClose}. */
export type BypassWriterHandle = { readonly [bypassWriterBrand]: true };

/** A native reader of one shuffle segment. Closed by {@link NativeAddon.segmentReaderClose}. */
export type SegmentReaderHandle = { readonly [segmentReaderBrand]: true };

/** An open file native code appends to (a spill file, a partition file, a data file): its
 *  descriptor, the offset to write at, and its path (for messages). */
export interface NativePartitionFile {
  fd: number;
  offset: number;
  path: string;
}

/** native/core's PhysicalType. */
export const PhysicalType = {
  INT: 0,
  UINT: 1,
  FLOAT: 2,
  BOOL: 3,
  DECIMAL128: 4,
  VAR_BINARY: 5,
  FIXED_BINARY: 6,
} as const;
export type PhysicalType = (typeof PhysicalType)[keyof typeof PhysicalType];

export interface NativeColumnType {
  physical: PhysicalType;
  /** Bytes per value; bytes per offset (4 or 8) for VAR_BINARY. */
  width: number;
  /** DECIMAL128 with precision ≤ 18: the 8-byte prefix holds the whole value. */
  decimalFitsInt64: boolean;
}

/** One column of a batch, borrowed by native code for the duration of a call. */
export interface NativeColumn {
  validity: Uint8Array | null;
  /** Bit index of row 0 in `validity`. */
  validityOffset: number;
  values: ArrayBufferView;
  /** BOOL only: bit index of row 0 in `values`. */
  valuesBitOffset: number;
  /** VAR_BINARY only: numRows + 1 offsets. */
  offsets: Int32Array | BigInt64Array | null;
}

export interface NativeBatch {
  numRows: number;
  columns: NativeColumn[];
}

export interface NativeSortKey {
  column: number;
  descending: boolean;
  nullsFirst: boolean;
}

export interface NativeSorterOptions {
  columns: NativeColumnType[];
  keys: NativeSortKey[];
  /** 0: none, 1: lz4. */
  codec: 0 | 1;
  spillBlockBytes: number;
}

/** A sorted run on disk, as native code wrote it. */
export interface SpillRun {
  path: string;
  codec: number;
  records: number;
  blocks: number;
  /** Bytes written to disk. */
  fileBytes: number;
  /** Bytes of records before compression. */
  rawBytes: number;
  /** The largest raw block: the read buffer a reader of this run needs. */
  maxBlockBytes: number;
}

/** What an insert from a reader did and needs. */
export interface ReaderInsertProgress {
  /** Rows this call inserted. */
  rows: number;
  /** > 0: a page of at least this many bytes. */
  needPageBytes: number;
  /** The slot array is full (or there is none): grow it, or spill. */
  needArray: boolean;
  /** The reader has ended and every row it read is in. */
  done: boolean;
}

/** What an operator's insert asks for before it can go on (the grant protocol, DESIGN.md §2). */
export interface InsertProgress {
  /** Rows before this one are in the operator. */
  nextRow: number;
  /** > 0: a page of at least this many bytes (a sorter's: room for the next record). */
  needPageBytes: number;
  /** The pointer or slot array is full (or there is none): grow it, or spill. */
  needArray: boolean;
}

export interface NativeOutputColumn {
  nullCount: number;
  validity: ArrayBuffer | null;
  values: ArrayBuffer;
  offsets: ArrayBuffer | null;
}

export interface NativeOutputBatch {
  numRows: number;
  columns: NativeOutputColumn[];
}

export interface SorterState {
  inMemoryRecords: number;
  dataPages: number;
  pointerArrayBytes: number;
  outputStarted: boolean;
  outputReadsMemory: boolean;
}

export interface NativeSorterMetrics {
  /** CPU time of the operator's native workers, summed over its calls (thread CPU clocks). */
  workerCpuNanos: number;
  rowsInserted: number;
  sortTimeNs: number;
  spillWriteTimeNs: number;
  spillCount: number;
  diskBytesSpilled: number;
  mergePasses: number;
}

/** native/core's AggregateFunction. */
export const AggregateFunction = { COUNT_STAR: 0, COUNT: 1, SUM: 2, MIN: 3, MAX: 4, AVG: 5 } as const;
export type AggregateFunction = (typeof AggregateFunction)[keyof typeof AggregateFunction];

/** native/core's AggregationMode. */
export const AggregationMode = { PARTIAL: 0, FINAL: 1, COMPLETE: 2 } as const;
export type AggregationMode = (typeof AggregationMode)[keyof typeof AggregationMode];

export interface NativeAggregateSpec {
  function: AggregateFunction;
  /** The input column it reads; ignored by count(*). */
  inputColumn: number;
  /** For messages, e.g. "sum(v)". */
  name: string;
}

export interface NativeAggregatorOptions {
  /** Every column of an input batch: the keys first. */
  inputTypes: NativeColumnType[];
  numKeys: number;
  mode: AggregationMode;
  aggregates: NativeAggregateSpec[];
  codec: 0 | 1;
  spillBlockBytes: number;
}

export interface AggregatorState {
  groupsInMemory: number;
  slotArrayCapacity: number;
  dataPages: number;
  outputStarted: boolean;
  outputReadsMemory: boolean;
}

export interface NativeAggregatorMetrics {
  /** CPU time of the operator's native workers, summed over its calls (thread CPU clocks). */
  workerCpuNanos: number;
  rowsIn: number;
  groupsOut: number;
  spillCount: number;
  diskBytesSpilled: number;
  keyLookups: number;
  hashProbes: number;
  mergePasses: number;
  sortTimeNs: number;
  spillWriteTimeNs: number;
}

/** native/core's PartitionerKind. */
export const PartitionerKind = { SINGLE: 0, ROUND_ROBIN: 1, HASH: 2, RANGE: 3 } as const;
export type PartitionerKind = (typeof PartitionerKind)[keyof typeof PartitionerKind];

export interface NativePartitioner {
  kind: PartitionerKind;
  numPartitions: number;
  /** HASH: the key columns. */
  hashColumns?: number[];
  /** RANGE: the sort keys the bounds are ordered by. */
  sortKeys?: NativeSortKey[];
  /** ROUND_ROBIN: the partition of the first row. */
  roundRobinStart?: number;
}

export interface NativeShuffleSorterOptions {
  columns: NativeColumnType[];
  partitioner: NativePartitioner;
  /** RANGE: numPartitions − 1 rows with the input's columns, sorted by the sort keys. */
  bounds?: NativeBatch;
}

export interface NativeBypassWriterOptions extends NativeShuffleSorterOptions {
  /** Rows per message at most. */
  maxRows: number;
  /** LZ4_FRAME buffers. */
  compress: boolean;
  /** The bytes every segment starts with. */
  schemaMessage: Uint8Array;
}

export interface BypassWriterState {
  /** The smallest buffer block that holds a row for every partition. */
  minimumBufferBytes: number;
  /** The buffer block beyond which more is not used: a region of maxRows rows per partition. */
  preferredBufferBytes: number;
  /** 1 while it holds a buffer block. */
  hasBuffer: number;
  bufferedRows: number;
  rowsWritten: number;
  messagesWritten: number;
  /** CPU time of the writer's native workers, summed over its calls (thread CPU clocks). */
  workerCpuNanos: number;
}

export interface ShuffleSorterState {
  /** CPU time of the operator's native workers, summed over its calls (thread CPU clocks). */
  workerCpuNanos: number;
  records: number;
  dataPages: number;
  pointerArrayBytes: number;
  rowsInserted: number;
  sortTimeNs: number;
}

export interface AllocatorStats {
  liveBytes: number;
  liveBlocks: number;
  peakLiveBytes: number;
  totalAllocations: number;
}

export interface NativeAddon {
  setErrorFactory(factory: (code: string, message: string) => Error): void;
  /** Every error code the addon can raise. */
  errorCodes(): string[];

  allocatorStats(): AllocatorStats;
  allocatorSetDebugFill(on: boolean): void;
  allocatorDebugFill(): boolean;
  /** Test hook: the next `count` allocations fail as if the system were out of memory. */
  allocatorFailNextAllocations(count: number): void;
  /** Allocates directly (page number −1); null when the system has no memory. */
  allocatorAllocate(size: number): BlockHandle | null;
  allocatorFree(block: BlockHandle): void;

  blockPageNumber(block: BlockHandle): number;
  blockSize(block: BlockHandle): number;
  blockBaseAddress(block: BlockHandle): bigint;
  /** Copies `bytes` into a live block at `offset` (bounds checked). */
  blockWrite(block: BlockHandle, offset: number, bytes: Uint8Array): void;
  /** A copy of `length` bytes of a live block from `offset`. */
  blockRead(block: BlockHandle, offset: number, length: number): Buffer;
  /** The bytes of `batch`'s uncompressed Arrow IPC record-batch message (arrow_ipc.h). Validity
   *  and boolean bits must start at bit 0. */
  ipcMessageBytes(batch: NativeBatch, types: NativeColumnType[]): number;
  /** Writes that message into a live block of at least that size, from byte 0, on a worker;
   *  resolves to the bytes written. Keep the block and the batch until it settles. */
  ipcWriteMessage(block: BlockHandle, batch: NativeBatch, types: NativeColumnType[]): Promise<number>;

  pageTableCreate(): PageTableHandle;
  /** Allocates exactly `grantedBytes`, which the caller already acquired; null if the system
   *  has no memory (the page number is given back). */
  pageTableAllocatePage(table: PageTableHandle, grantedBytes: number): BlockHandle | null;
  pageTableFreePage(table: PageTableHandle, block: BlockHandle): void;
  /** Grows a live page in place to `grantedBytes` (already acquired); false if the system has
   *  no memory, nothing changed. */
  pageTableGrowPage(table: PageTableHandle, block: BlockHandle, grantedBytes: number): boolean;
  /** Frees every live page; returns their bytes. */
  pageTableFreeAllPages(table: PageTableHandle): number;
  pageTableLivePages(table: PageTableHandle): number;
  pageTableEncodeAbsolute(table: PageTableHandle, page: BlockHandle, absoluteAddress: bigint): bigint;
  pageTableAbsoluteAddress(table: PageTableHandle, address: bigint): bigint;
  /** Frees every live page and closes the handle; returns the bytes freed. Idempotent. */
  pageTableClose(table: PageTableHandle): number;

  encodePageNumberAndOffset(pageNumber: number, offset: bigint): bigint;
  decodePageNumber(address: bigint): number;
  decodeOffset(address: bigint): bigint;

  sorterCreate(table: PageTableHandle, options: NativeSorterOptions): SorterHandle;
  sorterAddDataPage(sorter: SorterHandle, page: BlockHandle): void;
  /** Copies the entries into `array`; the caller frees the previous array afterwards. */
  sorterReplacePointerArray(sorter: SorterHandle, array: BlockHandle): void;
  /** The pointer array's page grew in place. */
  sorterPointerArrayGrown(sorter: SorterHandle): void;
  sorterInsert(sorter: SorterHandle, batch: NativeBatch, startRow: number): Promise<InsertProgress>;
  /** Writes the in-memory records as a run; null when there were none. Afterwards the sorter
   *  references no page or array. */
  sorterSpill(sorter: SorterHandle, path: string): Promise<SpillRun | null>;
  sorterBeginOutput(sorter: SorterHandle, runs: SpillRun[]): Promise<void>;
  sorterNextBatch(sorter: SorterHandle, maxRows: number): Promise<NativeOutputBatch>;
  /** Ends an output that is not the last: rows can be inserted and read again. */
  sorterEndOutput(sorter: SorterHandle): void;
  sorterMergeRuns(sorter: SorterHandle, runs: SpillRun[], path: string): Promise<SpillRun>;
  sorterState(sorter: SorterHandle): SorterState;
  sorterMetrics(sorter: SorterHandle): NativeSorterMetrics;
  /** Releases the native sorter; idempotent; refused while an operation runs. */
  sorterClose(sorter: SorterHandle): void;

  aggregatorCreate(table: PageTableHandle, options: NativeAggregatorOptions): AggregatorHandle;
  aggregatorAddDataPage(aggregator: AggregatorHandle, page: BlockHandle): void;
  /** Adopts a (larger) slot array of 16-byte slots, a power of two of 64 to 2^29, rehashing the
   *  groups into it on a worker; the caller frees the previous one once it resolves. A block
   *  that is not a live page of the task throws at once. */
  aggregatorAdoptSlotArray(aggregator: AggregatorHandle, array: BlockHandle): Promise<void>;
  aggregatorInsert(aggregator: AggregatorHandle, batch: NativeBatch, startRow: number): Promise<InsertProgress>;
  /** Reads the reader's batches and inserts their `columns` (reader column indices, one per
   *  input column of the aggregation, of its types) on one worker, up to `maxBatches` whole
   *  batches, stopping early when the aggregation needs memory (then call again: the batch it
   *  stopped in is kept with the reader). Both handles are busy until it resolves; the reader's
   *  next() is refused while a batch is kept. */
  aggregatorInsertFromReader(aggregator: AggregatorHandle, reader: SegmentReaderHandle, columns: number[], maxBatches: number): Promise<ReaderInsertProgress>;
  /** Writes the groups in memory (or, while output is read, the unread ones) as a run sorted by
   *  key; null when there were none. Afterwards no page or slot array is referenced. */
  aggregatorSpill(aggregator: AggregatorHandle, path: string): Promise<SpillRun | null>;
  aggregatorBeginOutput(aggregator: AggregatorHandle, runs: SpillRun[]): Promise<void>;
  aggregatorNextBatch(aggregator: AggregatorHandle, maxGroups: number): Promise<NativeOutputBatch>;
  aggregatorMergeRuns(aggregator: AggregatorHandle, runs: SpillRun[], path: string): Promise<SpillRun>;
  aggregatorState(aggregator: AggregatorHandle): AggregatorState;
  aggregatorMetrics(aggregator: AggregatorHandle): NativeAggregatorMetrics;
  /** Releases the native aggregation; idempotent; refused while an operation runs. */
  aggregatorClose(aggregator: AggregatorHandle): void;

  shuffleSorterCreate(table: PageTableHandle, options: NativeShuffleSorterOptions): ShuffleSorterHandle;
  /** A page of at most 2^27 bytes (the packed pointer's offset bits). */
  shuffleSorterAddDataPage(sorter: ShuffleSorterHandle, page: BlockHandle): void;
  /** Copies the pointers into `array`: 8 bytes a row, half of it the radix sort's scratch
   *  (Spark's usable capacity with radix); the caller frees the previous array afterwards. */
  shuffleSorterReplacePointerArray(sorter: ShuffleSorterHandle, array: BlockHandle): void;
  shuffleSorterInsert(sorter: ShuffleSorterHandle, batch: NativeBatch, startRow: number): Promise<InsertProgress>;
  /** Radix-sorts the pointers by partition id. */
  shuffleSorterSort(sorter: ShuffleSorterHandle): Promise<void>;
  /** The next rows of one partition, in partition order; 0 rows when all are read. */
  shuffleSorterNextBatch(sorter: ShuffleSorterHandle, maxRows: number): Promise<{ partition: number; batch: NativeOutputBatch }>;
  /** Forgets the rows and drops every page and the array (the caller frees them). */
  shuffleSorterReset(sorter: ShuffleSorterHandle): void;
  shuffleSorterState(sorter: ShuffleSorterHandle): ShuffleSorterState;
  shuffleSorterClose(sorter: ShuffleSorterHandle): void;
  /** Sorts if needed and writes every row as Arrow IPC record-batch messages of at most
   *  maxRows rows (LZ4_FRAME buffers when `compress`), partition after partition, to the one
   *  file, through a buffer of writeBufferBytes. Resolves to the bytes written per partition.
   *  The file must stay open, and unused by anything else, until it settles. */
  shuffleSorterWriteSorted(sorter: ShuffleSorterHandle, file: [NativePartitionFile], maxRows: number, compress: boolean, writeBufferBytes: number): Promise<number[]>;

  bypassWriterCreate(table: PageTableHandle, options: NativeBypassWriterOptions): BypassWriterHandle;
  /** One empty file per partition, in order (offsets 0). */
  bypassWriterSetFiles(writer: BypassWriterHandle, files: NativePartitionFile[]): void;
  /** A granted block of at least minimumBufferBytes, carved into one region per partition. */
  bypassWriterSetBuffer(writer: BypassWriterHandle, block: BlockHandle): void;
  bypassWriterState(writer: BypassWriterHandle): BypassWriterState;
  /** Puts every row in its partition's region, writing full regions as messages. */
  bypassWriterWrite(writer: BypassWriterHandle, batch: NativeBatch): Promise<void>;
  /** Writes every buffered row and drops the buffer block (the caller frees it); resolves to the
   *  bytes written. */
  bypassWriterFlush(writer: BypassWriterHandle): Promise<number>;
  /** After the last flush: writes each non-empty partition's segment (schema message, its
   *  messages, end of stream) into the open, empty data file; resolves to the segments' lengths
   *  and CRC-32s. */
  bypassWriterWriteDataFile(writer: BypassWriterHandle, file: [NativePartitionFile]): Promise<{ lengths: number[]; checksums: number[] }>;
  /** Releases the native writer; idempotent; refused while an operation runs. */
  bypassWriterClose(writer: BypassWriterHandle): void;

  /** Opens [offset, offset + length) of `path`, an Arrow IPC stream of columns `columns`. With
   *  `expectedCrc`, the range's CRC-32 is checked as it is read, and the end of the stream
   *  rejects (IPC_CORRUPT) when it does not match. */
  segmentReaderOpen(path: string, offset: number, length: number, columns: NativeColumnType[], expectedCrc?: number): SegmentReaderHandle;
  /** The next record batch with rows, decoded; 0 rows at the end of the stream. */
  segmentReaderNext(reader: SegmentReaderHandle): Promise<NativeOutputBatch>;
  /** CPU time of the reader's decoding so far, on worker threads (thread CPU clocks). */
  segmentReaderCpuNanos(reader: SegmentReaderHandle): number;
  /** Closes the file; idempotent; refused while next() runs. */
  segmentReaderClose(reader: SegmentReaderHandle): void;

  /** Native workers running now, and the most at once since the last reset (tests observe
   *  that two tasks' native work overlaps). */
  workerConcurrency(): { running: number; peak: number };
  workerConcurrencyReset(): void;

  /** Frees output batches' buffers now by detaching their ArrayBuffers (they read as empty
   *  after). Only for buffers of NativeOutputBatch that nothing will read again. */
  releaseOutputBuffers(buffers: ArrayBuffer[]): void;
  /** Bytes held by output batches not yet freed, over the process. */
  outputBytesLive(): number;
  /** Unmaps the freed output buffers native code keeps for reuse (at most 16 MiB over the
   *  process), giving that memory back to the system. */
  releaseCachedOutputBytes(): void;

  /** Test hook: native file writes (spill files, shuffle files) fail as if the disk were full
   *  after `bytes` more bytes; −1: off. */
  spillInjectDiskFullAfter(bytes: number): void;

  readonly constants: {
    readonly PAGE_NUMBER_BITS: number;
    readonly OFFSET_BITS: number;
    readonly PAGE_TABLE_SIZE: number;
    readonly MAXIMUM_PAGE_SIZE_BYTES: number;
  };
}

/** The folder of tungsten's package.json above this module (src/, dist/ or a bench build). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tungsten') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find tungsten's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function loadAddon(): NativeAddon {
  const path = join(packageRoot(), 'build', 'Release', 'tungsten.node');
  if (!existsSync(path)) {
    throw new Error(
      `The tungsten native addon is not built (${path} is missing). ` +
        'Run `npm install` (or `npm run build:addon`) in the package folder.',
    );
  }
  const loaded = createRequire(import.meta.url)(path) as NativeAddon;
  loaded.setErrorFactory(errorFromCode);
  return loaded;
}

export const addon: NativeAddon = loadAddon();
