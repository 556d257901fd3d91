/**
 * Writes one map task's shuffle output: Spark's BypassMergeSortShuffleWriter and
 * UnsafeShuffleWriter (spark-semantics §3.6-3.7), both native.
 *
 * Writer choice (§3.7, chooseShuffleWriter): no map-side combine and at most
 * `shuffle.sort.bypassMergeThreshold` (200) partitions → bypass; else, with a serializer whose
 * records can be relocated (Arrow IPC's can) and at most 2^24 partitions → unsafe; else sort.
 * Our dependencies never combine map-side (groupBy's partial aggregation is an operator before
 * the shuffle, as in Spark SQL), and the serializer is always Arrow, so 'sort' is only chosen
 * for more partitions than a packed pointer can name, which the planner refuses.
 *
 * Bypass (BypassShuffleWriter.ts): no sort; each row is copied into its partition's region of a
 *   granted buffer, a full region becomes a message appended to the partition's own file, and
 *   the files are concatenated into the data file in native code, with the segments' CRC-32s
 *   kept as they were written.
 * Unsafe: rows accumulate in native pages of the shuffle sorter (ShuffleExternalSorter.ts)
 *   until it is short of memory; then they are sorted by partition and written, natively, as one
 *   spill file holding the partitions in order. At the end what is in memory becomes the last
 *   file, and the files are merged per partition by concatenation (Spark's fast merge), here
 *   read back and checksummed in JavaScript.
 * Both: each non-empty segment is the schema message, the partition's messages, and the
 *   end-of-stream marker (segments.ts); lengths and CRC-32s go to the resolver, which commits
 *   first-writer-wins. Temporary files are removed on success and on failure.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { open, type FileHandle, rm } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { readFileRange } from '../util/fileRange.js';
import { FileSink, ioError } from '../util/fileSink.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import type { NativePartitionFile, NativePartitioner } from '../native/addon.js';
import { BypassShuffleWriter } from './BypassShuffleWriter.js';
import type { DiskBlockManager } from '../storage/DiskBlockManager.js';
import type { IndexShuffleBlockResolver } from './IndexShuffleBlockResolver.js';
import type { BlockCompression } from '../storage/serialization.js';
import { END_OF_STREAM } from './segments.js';
import { MAXIMUM_SHUFFLE_PARTITIONS, type PartitionSink, ShuffleExternalSorter } from './ShuffleExternalSorter.js';

export type ShuffleWriterKind = 'bypass' | 'unsafe' | 'sort';

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

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    numPartitions: number,
    /** shuffle.file.buffer: Spark's ShuffleExternalSorter writes its spill files through a
     *  buffer of that size too. */
    readonly writeBufferBytes: number,
  ) {
    this.lengths = new Array<number>(numPartitions).fill(0);
  }

  file(): NativePartitionFile {
    return { fd: this.handle.fd, offset: this.size, path: this.path };
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

/** What a map task's writer does, whichever it is. */
interface MapOutputWriter {
  write(batch: RecordBatch): Promise<void>;
  /** Writes the data file at `path`: lengths and CRC-32s of the segments, and the total. */
  writeDataFile(path: string): Promise<{ lengths: number[]; checksums: number[]; total: number }>;
  readonly metrics: Omit<ShuffleWriteMetrics, 'bytesWritten' | 'recordsWritten' | 'writeTimeMs'>;
  /** Temporary files it made, for the caller to remove. */
  readonly paths: string[];
  close(): Promise<void>;
}

/** Spark's UnsafeShuffleWriter: the shuffle sorter's spill files, merged per partition. */
class UnsafeShuffleWriter implements MapOutputWriter {
  private readonly spills: SpillFileSink[] = [];
  readonly paths: string[] = [];
  private readonly sorter: ShuffleExternalSorter;

  constructor(
    taskMemoryManager: TaskMemoryManager,
    private readonly diskBlockManager: DiskBlockManager,
    private readonly request: MapOutputRequest,
  ) {
    this.sorter = new ShuffleExternalSorter(taskMemoryManager, request.schema, {
      partitioner: request.partitioner,
      ...(request.bounds ? { bounds: request.bounds } : {}),
      compression: request.compression,
      onSpill: (sorter) => this.writeSpill(sorter),
    });
  }

  write(batch: RecordBatch): Promise<void> {
    return this.sorter.insert(batch);
  }

  async writeDataFile(path: string): Promise<{ lengths: number[]; checksums: number[]; total: number }> {
    if (this.sorter.records > 0) await this.writeSpill(this.sorter);
    return assembleSegments(path, this.request.numPartitions, this.sorter.schemaMessage, (p) => this.spills.flatMap((spill) => spill.pieces(p)));
  }

  /** The last file is shuffle output, not a spill (Spark's closeAndGetSpills). */
  get metrics(): MapOutputWriter['metrics'] {
    return this.sorter.metrics;
  }

  close(): Promise<void> {
    return this.sorter.close();
  }

  private async writeSpill(sorter: ShuffleExternalSorter): Promise<number> {
    const { path } = this.diskBlockManager.createTempShuffleBlock();
    this.paths.push(path);
    const handle = await open(path, 'w');
    try {
      const sink = new SpillFileSink(path, handle, this.request.numPartitions, this.request.fileBufferBytes ?? 32 * 1024);
      await sorter.writeSortedTo(sink);
      this.spills.push(sink);
      return sink.size;
    } finally {
      await handle.close();
    }
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
  const writer: MapOutputWriter =
    request.kind === 'bypass'
      ? new BypassShuffleWriter(taskMemoryManager, request.schema, request.numPartitions, diskBlockManager, {
          partitioner: request.partitioner,
          ...(request.bounds ? { bounds: request.bounds } : {}),
          compression: request.compression,
        })
      : new UnsafeShuffleWriter(taskMemoryManager, diskBlockManager, request);
  const tmpData = diskBlockManager.createTempShuffleBlock().path;
  let records = 0;
  try {
    for await (const batch of batches) {
      await timed(() => writer.write(batch));
      records += batch.numRows;
    }
    const { committed, total } = await timed(async () => {
      const assembled = await writer.writeDataFile(tmpData);
      const lengths = await resolver.writeMetadataFileAndCommit(request.shuffleId, request.mapId, assembled.lengths, assembled.checksums, assembled.total > 0 ? tmpData : null);
      return { committed: lengths, total: assembled.total };
    });
    const { cpuTimeMs, spillCount, memoryBytesSpilled, diskBytesSpilled, peakExecutionMemory } = writer.metrics;
    return {
      lengths: committed,
      metrics: { bytesWritten: total, recordsWritten: records, writeTimeMs, cpuTimeMs, spillCount, memoryBytesSpilled, diskBytesSpilled, peakExecutionMemory },
    };
  } finally {
    await writer.close();
    await Promise.all([...writer.paths, tmpData].map((path) => rm(path, { force: true })));
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
