/**
 * Writes one map task's shuffle output: Spark's BypassMergeSortShuffleWriter and
 * UnsafeShuffleWriter (spark-semantics §3.6-3.7), both over the native shuffle sorter.
 *
 * Writer choice (§3.7, chooseShuffleWriter): no map-side combine and at most
 * `shuffle.sort.bypassMergeThreshold` (200) partitions → bypass; else, with a serializer whose
 * records can be relocated (Arrow IPC's can) and at most 2^24 partitions → unsafe; else sort.
 * Our dependencies never combine map-side (groupBy's partial aggregation is an operator before
 * the shuffle, as in Spark SQL), and the serializer is always Arrow, so 'sort' is only chosen
 * for more partitions than a packed pointer can name, which the planner refuses.
 *
 * Bypass: rows gather in native pages until they would fill a message (65,536 rows) per
 *   partition, or hold BYPASS_FLUSH_BYTES, or the sorter is short of memory; then native code
 *   sorts them by partition, encodes each partition's messages and appends them to one file per
 *   partition (all opened at the first write, as Spark's bypass writer opens its N writers;
 *   written through a buffer of shuffle.file.buffer). At the end the files are concatenated in
 *   partition order into the data file. (Spark's bypass writer serializes each record into its
 *   partition's buffered stream at once; flushing per input batch instead made messages of a few
 *   thousand rows, and the per-message work cost S2 ~20% of its time.)
 * Unsafe: rows accumulate in native pages until the sorter is short of memory; then they are
 *   sorted and written, natively, as one spill file holding the partitions in order. At the end
 *   what is in memory becomes the last file, and the files are merged per partition by
 *   concatenation (Spark's fast merge).
 * Both: each non-empty segment is the schema message, the partition's messages from every
 *   piece, and the end-of-stream marker (segments.ts); lengths and CRC-32s go to the resolver,
 *   which commits first-writer-wins. Temporary files are removed on success and on failure.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { open, type FileHandle, rm } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { readFileRange } from '../util/fileRange.js';
import { FileSink, ioError } from '../util/fileSink.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import type { NativePartitionFile, NativePartitioner } from '../native/addon.js';
import type { DiskBlockManager } from '../storage/DiskBlockManager.js';
import type { IndexShuffleBlockResolver } from './IndexShuffleBlockResolver.js';
import type { BlockCompression } from '../storage/serialization.js';
import { END_OF_STREAM } from './segments.js';
import { MAXIMUM_SHUFFLE_PARTITIONS, type PartitionSink, ShuffleExternalSorter } from './ShuffleExternalSorter.js';

export type ShuffleWriterKind = 'bypass' | 'unsafe' | 'sort';

/** The most native memory (pages and pointer array) the bypass writer gathers rows in before it
 *  writes them out: Spark's bypass writer holds 200 partitions × 32 KiB of stream buffers at
 *  most, about 6 MiB; this is of that order, and is execution memory, granted like any other. */
export const BYPASS_FLUSH_BYTES = 16 * 1024 * 1024;

/** Spark's SortShuffleManager.registerShuffle order (AC-SH-01). */
export function chooseShuffleWriter(
  dependency: { mapSideCombine: boolean; numPartitions: number; serializerRelocatable?: boolean },
  bypassMergeThreshold = 200,
): ShuffleWriterKind {
  if (!dependency.mapSideCombine && dependency.numPartitions <= bypassMergeThreshold) return 'bypass';
  if ((dependency.serializerRelocatable ?? true) && !dependency.mapSideCombine && dependency.numPartitions <= MAXIMUM_SHUFFLE_PARTITIONS) {
    return 'unsafe';
  }
  return 'sort';
}

export interface ShuffleWriteMetrics {
  bytesWritten: number;
  /** CPU time of the shuffle sorter's native work. */
  cpuTimeMs: number;
  recordsWritten: number;
  writeTimeMs: number;
  spillCount: number;
  memoryBytesSpilled: number;
  diskBytesSpilled: number;
  peakExecutionMemory: number;
}

export interface MapOutputRequest {
  readonly shuffleId: number;
  /** The map task's attempt id (unique per attempt). */
  readonly mapId: number;
  readonly numPartitions: number;
  readonly schema: Schema;
  readonly partitioner: NativePartitioner;
  readonly bounds?: RecordBatch;
  readonly compression: BlockCompression;
  readonly kind: ShuffleWriterKind;
  readonly fileBufferBytes?: number;
}

/** A byte range of a file that belongs to one partition's segment. */
interface Piece {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** One spill file of the unsafe writer: the partitions in order, with their lengths. */
class SpillFileSink implements PartitionSink {
  readonly lengths: number[];
  readonly writeBufferBytes = 1 << 20;

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    numPartitions: number,
  ) {
    this.lengths = new Array<number>(numPartitions).fill(0);
  }

  async files(): Promise<NativePartitionFile[]> {
    return [{ fd: this.handle.fd, offset: this.size, path: this.path }];
  }

  appended(bytesPerPartition: readonly number[]): void {
    bytesPerPartition.forEach((bytes, p) => (this.lengths[p]! += bytes));
  }

  get size(): number {
    return this.lengths.reduce((sum, length) => sum + length, 0);
  }

  /** Where each partition starts, summed once when the file is complete (the unsafe writer has
   *  more than 200 partitions; a sum per call made assembling them quadratic). */
  private offsets: number[] | undefined;

  pieces(partition: number): Piece[] {
    if (!this.offsets) {
      this.offsets = new Array<number>(this.lengths.length);
      let offset = 0;
      for (let p = 0; p < this.lengths.length; p++) {
        this.offsets[p] = offset;
        offset += this.lengths[p]!;
      }
    }
    const length = this.lengths[partition]!;
    return length === 0 ? [] : [{ path: this.path, offset: this.offsets[partition]!, length }];
  }
}

/** The bypass writer's files, one per partition, all opened at the first write (Spark's bypass
 *  writer opens its N writers at once too). */
class PartitionFilesSink implements PartitionSink {
  /** Per partition: its file's path, handle (while open) and size. */
  private readonly partitionFiles: { path: string; handle: FileHandle | undefined; size: number }[] = [];
  private opening: Promise<void> | undefined;

  constructor(
    private readonly diskBlockManager: DiskBlockManager,
    private readonly numPartitions: number,
    readonly writeBufferBytes: number,
  ) {}

  async files(): Promise<NativePartitionFile[]> {
    this.opening ??= this.openAll();
    await this.opening;
    return this.partitionFiles.map(({ path, handle, size }) => ({ fd: handle!.fd, offset: size, path }));
  }

  private async openAll(): Promise<void> {
    for (let p = 0; p < this.numPartitions; p++) {
      const file = { path: this.diskBlockManager.createTempShuffleBlock().path, handle: undefined as FileHandle | undefined, size: 0 };
      // Listed before it exists, so that a failure part-way still removes every file made.
      this.partitionFiles.push(file);
      file.handle = await open(file.path, 'w');
    }
  }

  appended(bytesPerPartition: readonly number[]): void {
    bytesPerPartition.forEach((bytes, p) => (this.partitionFiles[p]!.size += bytes));
  }

  /** Idempotent (a FileHandle closed twice aborts the process). */
  async closeFiles(): Promise<void> {
    await this.opening?.catch(() => undefined);
    for (const file of this.partitionFiles) {
      const handle = file.handle;
      file.handle = undefined;
      await handle?.close();
    }
  }

  pieces(partition: number): Piece[] {
    const file = this.partitionFiles[partition];
    return file && file.size > 0 ? [{ path: file.path, offset: 0, length: file.size }] : [];
  }

  get paths(): string[] {
    return this.partitionFiles.map((file) => file.path);
  }
}

/**
 * Writes `batches` as map output `request.mapId` of shuffle `request.shuffleId` and commits it;
 * returns the partition lengths that stand (another attempt's, should it have committed first)
 * and the metrics.
 */
export async function writeMapOutput(
  taskMemoryManager: TaskMemoryManager,
  diskBlockManager: DiskBlockManager,
  resolver: IndexShuffleBlockResolver,
  request: MapOutputRequest,
  batches: AsyncIterable<RecordBatch>,
): Promise<{ lengths: readonly number[]; metrics: ShuffleWriteMetrics }> {
  if (request.kind === 'sort') {
    throw new InvalidArgumentError(`a shuffle into ${request.numPartitions} partitions needs the sort writer, which tungsten does not have; use at most 2^24 partitions`);
  }
  // Time spent writing, not waiting for the upstream batches (which the stage's other operators
  // and the source account for).
  let writeTimeMs = 0;
  const timed = async <R>(work: () => Promise<R>): Promise<R> => {
    const start = performance.now();
    try {
      return await work();
    } finally {
      writeTimeMs += performance.now() - start;
    }
  };
  const spills: SpillFileSink[] = [];
  const spillPaths: string[] = [];
  const partitionFiles = new PartitionFilesSink(diskBlockManager, request.numPartitions, request.fileBufferBytes ?? 32 * 1024);
  const writeSpill = async (sorter: ShuffleExternalSorter): Promise<number> => {
    const { path } = diskBlockManager.createTempShuffleBlock();
    spillPaths.push(path);
    const handle = await open(path, 'w');
    try {
      const sink = new SpillFileSink(path, handle, request.numPartitions);
      await sorter.writeSortedTo(sink);
      spills.push(sink);
      return sink.size;
    } finally {
      await handle.close();
    }
  };
  const sorter = new ShuffleExternalSorter(taskMemoryManager, request.schema, {
    partitioner: request.partitioner,
    ...(request.bounds ? { bounds: request.bounds } : {}),
    compression: request.compression,
    onSpill: request.kind === 'bypass' ? (s) => s.writeSortedTo(partitionFiles).then(() => 0) : writeSpill,
    spillsForOthers: request.kind === 'bypass',
  });
  const tmpData = diskBlockManager.createTempShuffleBlock().path;
  let records = 0;
  try {
    const bypassFlushRows = request.numPartitions * sorter.batchRows;
    for await (const batch of batches) {
      await timed(async () => {
        await sorter.insert(batch);
        if (request.kind === 'bypass' && (sorter.records >= bypassFlushRows || sorter.used >= BYPASS_FLUSH_BYTES)) {
          await sorter.writeSortedTo(partitionFiles);
        }
      });
      records += batch.numRows;
    }
    const { committed, total } = await timed(async () => {
      if (request.kind === 'bypass') {
        if (sorter.records > 0) await sorter.writeSortedTo(partitionFiles);
        await partitionFiles.closeFiles();
      } else if (sorter.records > 0) {
        await writeSpill(sorter);
      }
      const pieces = (p: number): Piece[] =>
        request.kind === 'bypass' ? partitionFiles.pieces(p) : spills.flatMap((spill) => spill.pieces(p));
      const assembled = await assembleSegments(tmpData, request.numPartitions, sorter.schemaMessage, pieces);
      const lengths = await resolver.writeMetadataFileAndCommit(request.shuffleId, request.mapId, assembled.lengths, assembled.checksums, assembled.total > 0 ? tmpData : null);
      return { committed: lengths, total: assembled.total };
    });
    const sorterMetrics = sorter.metrics;
    return {
      lengths: committed,
      metrics: {
        bytesWritten: total,
        recordsWritten: records,
        writeTimeMs,
        // The last file is shuffle output, not a spill (Spark's closeAndGetSpills).
        spillCount: sorterMetrics.spillCount,
        memoryBytesSpilled: sorterMetrics.memoryBytesSpilled,
        diskBytesSpilled: sorterMetrics.diskBytesSpilled,
        peakExecutionMemory: sorterMetrics.peakExecutionMemory,
        cpuTimeMs: sorterMetrics.cpuTimeMs,
      },
    };
  } finally {
    await sorter.close();
    await partitionFiles.closeFiles().catch(() => undefined);
    await Promise.all([...partitionFiles.paths, ...spillPaths, tmpData].map((path) => rm(path, { force: true })));
  }
}

/** Writes every partition's segment into `path`; returns lengths, CRC-32s and the total. */
async function assembleSegments(
  path: string,
  numPartitions: number,
  schemaMessage: Uint8Array,
  pieces: (partition: number) => Piece[],
): Promise<{ lengths: number[]; checksums: number[]; total: number }> {
  const handle = await open(path, 'w');
  // The sink checksums what it writes; its CRC is restarted at each segment.
  const out = new FileSink(handle);
  const lengths: number[] = [];
  const checksums: number[] = [];
  const readers = new Map<string, FileHandle>();
  try {
    for (let p = 0; p < numPartitions; p++) {
      const parts = pieces(p);
      if (parts.length === 0) {
        lengths.push(0);
        checksums.push(0);
        continue;
      }
      const start = out.size;
      out.crc = 0;
      out.write(schemaMessage);
      for (const piece of parts) {
        let reader = readers.get(piece.path);
        if (!reader) {
          reader = await open(piece.path, 'r');
          readers.set(piece.path, reader);
        }
        for await (const bytes of readFileRange(reader, piece.offset, piece.length)) {
          out.write(bytes);
          await out.drain();
        }
      }
      out.write(END_OF_STREAM);
      lengths.push(out.size - start);
      checksums.push(out.crc);
    }
    await out.drain();
  } catch (error) {
    throw ioError(error, `writing the shuffle data file ${path}`);
  } finally {
    await handle.close();
    for (const reader of readers.values()) await reader.close();
  }
  return { lengths, checksums, total: out.size };
}
