/**
 * Where a map task's shuffle output lives and how it is committed: Spark's
 * IndexShuffleBlockResolver (spark-semantics §3.8).
 *
 * Files per map output (named by BlockId, placed by the DiskBlockManager's hash layout):
 *   shuffle_<s>_<m>_0.data            the partitions' segments, concatenated in partition order
 *   shuffle_<s>_<m>_0.index           N + 1 big-endian int64 offsets: 0, then cumulative lengths
 *   shuffle_<s>_<m>_0.checksum.CRC32  N big-endian int64: each segment's CRC-32 (Spark 3.2's
 *                                     optional checksum file; here always written, and the
 *                                     reader checks it, so a damaged segment is a fetch
 *                                     failure rather than wrong rows)
 * mapId is the map task's attempt id, unique per attempt.
 *
 * Commit (writeMetadataFileAndCommit), one at a time per resolver (Spark's synchronized):
 *   1. If a consistent index/data pair already exists (another attempt of the same map output
 *      finished first), delete this attempt's temporary data and adopt the existing lengths:
 *      first writer wins.
 *   2. Otherwise delete stale files and rename the temporary index, checksum and data files
 *      into place.
 *
 * Reads of a segment look its offsets and checksum up in an index cache (as Spark's external
 * shuffle service caches index files, spark.shuffle.service.index.cache.size): a commit puts its
 * own offsets there, and a miss reads the two files whole. Without it, a reduce task opened,
 * read and closed two files per block, six thread-pool round trips, ~1.2 ms a block when the
 * event loop is busy: more than decoding a small segment. The cache holds at most
 * INDEX_CACHE_PARTITIONS partitions' values (8 MiB), least recently used out first.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { IoError } from '../errors.js';
import { BlockId } from '../storage/BlockId.js';
import type { DiskBlockManager } from '../storage/DiskBlockManager.js';
import { AsyncMutex } from '../util/sync.js';

/** A byte range of a data file: one or more consecutive reduce partitions' segments. */
export interface FileSegment {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
  /** CRC-32 of each partition's segment in the range, in order. */
  readonly checksums: readonly number[];
  /** The length of each partition's segment in the range, in order. */
  readonly lengths: readonly number[];
}

/** A committed map output's partition offsets (N + 1) and segment checksums (N). */
interface IndexInfo {
  readonly offsets: Float64Array;
  readonly checksums: Float64Array;
}

/** Partitions whose offsets and checksum the index cache holds at most (16 bytes each). */
const INDEX_CACHE_PARTITIONS = 2 ** 19;

export class IndexShuffleBlockResolver {
  private readonly commitLock = new AsyncMutex();
  /** By data file path, in least recently used order. */
  private readonly indexCache = new Map<string, IndexInfo>();
  private indexCachePartitions = 0;

  constructor(private readonly diskBlockManager: DiskBlockManager) {}

  dataFile(shuffleId: number, mapId: number): string {
    return this.diskBlockManager.getFile(BlockId.shuffleData(shuffleId, mapId));
  }

  indexFile(shuffleId: number, mapId: number): string {
    return this.diskBlockManager.getFile(BlockId.shuffleIndex(shuffleId, mapId));
  }

  checksumFile(shuffleId: number, mapId: number): string {
    return this.diskBlockManager.getFile(`${BlockId.shuffleData(shuffleId, mapId).name.replace(/\.data$/, '')}.checksum.CRC32`);
  }

  /**
   * The partition lengths, if `index` and `data` are a consistent pair for `numPartitions`
   * partitions: the index holds (N + 1) × 8 bytes, starts at 0, and the data file is as long as
   * the lengths add up to. Otherwise null (also when either file is missing).
   */
  async checkIndexAndDataFile(index: string, data: string, numPartitions: number): Promise<number[] | null> {
    let offsets: number[];
    let dataLength: number;
    try {
      const indexBytes = await readFile(index);
      if (indexBytes.byteLength !== (numPartitions + 1) * 8) return null;
      offsets = readOffsets(indexBytes);
      dataLength = (await stat(data)).size;
    } catch {
      return null;
    }
    if (offsets[0] !== 0) return null;
    const lengths = offsets.slice(1).map((end, i) => end - offsets[i]!);
    if (lengths.some((length) => length < 0)) return null;
    return offsets[numPartitions] === dataLength ? lengths : null;
  }

  /**
   * Commits a map output whose data is in `tmpData` (null: no data, every length 0); returns
   * the lengths that now stand, which are another attempt's when it committed first.
   */
  async writeMetadataFileAndCommit(
    shuffleId: number,
    mapId: number,
    lengths: readonly number[],
    checksums: readonly number[],
    tmpData: string | null,
  ): Promise<readonly number[]> {
    const index = this.indexFile(shuffleId, mapId);
    const data = this.dataFile(shuffleId, mapId);
    const checksumPath = this.checksumFile(shuffleId, mapId);
    const tmpIndex = `${index}.${randomUUID()}`;
    const tmpChecksum = `${checksumPath}.${randomUUID()}`;
    try {
      await writeFile(tmpIndex, encodeLongs([0, ...cumulative(lengths)]));
      await writeFile(tmpChecksum, encodeLongs(checksums));
      return await this.commitLock.run(async () => {
        const existing = await this.checkIndexAndDataFile(index, data, lengths.length);
        if (existing !== null) {
          // Another attempt of this map output committed first: it stands.
          await Promise.all([rm(tmpIndex, { force: true }), rm(tmpChecksum, { force: true }), tmpData && rm(tmpData, { force: true })]);
          return existing;
        }
        await Promise.all([rm(index, { force: true }), rm(data, { force: true }), rm(checksumPath, { force: true })]);
        this.forget(data);
        if (tmpData !== null) await rename(tmpData, data);
        else await writeFile(data, new Uint8Array(0));
        await rename(tmpChecksum, checksumPath);
        await rename(tmpIndex, index);
        this.remember(data, { offsets: Float64Array.from([0, ...cumulative(lengths)]), checksums: Float64Array.from(checksums) });
        return lengths;
      });
    } catch (error) {
      await Promise.all([rm(tmpIndex, { force: true }), rm(tmpChecksum, { force: true }), tmpData && rm(tmpData, { force: true })]);
      throw error instanceof IoError ? error : new IoError(`cannot commit shuffle ${shuffleId} map ${mapId}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * The segments of reduce partitions [start, end) of a map output, checking that its index
   * and checksum files hold them (SPARK-22982).
   */
  async getBlockData(shuffleId: number, mapId: number, start: number, end: number): Promise<FileSegment> {
    const path = this.dataFile(shuffleId, mapId);
    const info = await this.indexInfo(shuffleId, mapId, path);
    if (end >= info.offsets.length) throw new IoError(`the index file ${this.indexFile(shuffleId, mapId)} is shorter than partition ${end} needs (SPARK-22982)`);
    if (end > info.checksums.length) throw new IoError(`the checksum file of shuffle ${shuffleId} map ${mapId} is short`);
    const offsets = Array.from(info.offsets.subarray(start, end + 1));
    return {
      path,
      offset: offsets[0]!,
      length: offsets[offsets.length - 1]! - offsets[0]!,
      checksums: Array.from(info.checksums.subarray(start, end)),
      lengths: offsets.slice(1).map((o, i) => o - offsets[i]!),
    };
  }

  /** Deletes a map output's files (a shuffle unregistered, a session closed). */
  async removeDataByMap(shuffleId: number, mapId: number): Promise<void> {
    this.forget(this.dataFile(shuffleId, mapId));
    await Promise.all(
      [this.dataFile(shuffleId, mapId), this.indexFile(shuffleId, mapId), this.checksumFile(shuffleId, mapId)].map((path) =>
        rm(path, { force: true }),
      ),
    );
  }

  private async indexInfo(shuffleId: number, mapId: number, data: string): Promise<IndexInfo> {
    const cached = this.indexCache.get(data);
    if (cached) {
      this.indexCache.delete(data);
      this.indexCache.set(data, cached);
      return cached;
    }
    const [index, checksums] = await Promise.all([readFile(this.indexFile(shuffleId, mapId)), readFile(this.checksumFile(shuffleId, mapId))]);
    const info = { offsets: Float64Array.from(readOffsets(index)), checksums: Float64Array.from(readOffsets(checksums)) };
    this.remember(data, info);
    return info;
  }

  private remember(data: string, info: IndexInfo): void {
    this.forget(data);
    this.indexCache.set(data, info);
    this.indexCachePartitions += info.checksums.length;
    for (const oldest of this.indexCache.keys()) {
      if (this.indexCachePartitions <= INDEX_CACHE_PARTITIONS) break;
      this.forget(oldest);
    }
  }

  private forget(data: string): void {
    const info = this.indexCache.get(data);
    if (!info) return;
    this.indexCache.delete(data);
    this.indexCachePartitions -= info.checksums.length;
  }
}

function cumulative(lengths: readonly number[]): number[] {
  let sum = 0;
  return lengths.map((length) => (sum += length));
}

function encodeLongs(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setBigInt64(i * 8, BigInt(value), false));
  return bytes;
}

function readOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 8 <= bytes.byteLength; i += 8) out.push(Number(view.getBigInt64(i, false)));
  return out;
}
