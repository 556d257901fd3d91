/**
 * The reduce side of a shuffle: the batches of the blocks a reduce task was given, fetched
 * within the in-flight cap (ShuffleBlockFetcher.ts), checked against their checksums, and
 * decoded a batch at a time. A segment that cannot be decoded is a fetch failure too: the map
 * output is re-made, never misread.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { FetchFailedError, TungstenError } from '../errors.js';
import { decodedSchema } from '../sort/dictionaries.js';
import { nativeIpcTypes, readIpcRange } from '../storage/nativeIpc.js';
import { deserialize, deserializeAsync } from '../storage/serialization.js';
import { type FetchedSegment, type FetcherOptions, fetchShuffleBlocks, type FetchMetrics, fileSegmentChunks, type ShuffleClient } from './ShuffleBlockFetcher.js';
import type { IndexShuffleBlockResolver } from './IndexShuffleBlockResolver.js';
import type { ShuffleBlockRef } from './MapOutputTracker.js';

/** Reads segments from the data files of executors on this host, through their resolvers. */
export class LocalShuffleClient implements ShuffleClient {
  constructor(private readonly resolverOf: (executorId: string) => IndexShuffleBlockResolver | undefined) {}

  async fetch(block: ShuffleBlockRef): Promise<FetchedSegment> {
    const resolver = this.resolverOf(block.executorId);
    if (!resolver) throw new Error(`executor ${block.executorId} is gone`);
    const segment = await resolver.getBlockData(block.shuffleId, block.mapId, block.reduceId, block.reduceId + 1);
    return { file: { path: segment.path, offset: segment.offset, length: segment.length }, checksum: segment.checksums[0]! };
  }
}

export interface ShuffleReadMetrics extends FetchMetrics {
  recordsRead: number;
  /** Time from the first request to the last batch handed on, the consumer's time included. */
  readTimeMs: number;
}

export function emptyShuffleReadMetrics(): ShuffleReadMetrics {
  return {
    localBytesRead: 0,
    remoteBytesRead: 0,
    localBlocksFetched: 0,
    remoteBlocksFetched: 0,
    fetchWaitTimeMs: 0,
    peakBytesInFlight: 0,
    recordsRead: 0,
    readTimeMs: 0,
  };
}

/**
 * The batches of `blocks`, in the order they arrive. With the map side's `schema` known, file
 * segments are decoded natively (ipc_segment_reader.h); segments fetched as bytes, and any
 * segment when the schema is not known, by apache-arrow's reader.
 */
export async function* readShuffleBlocks(
  blocks: readonly ShuffleBlockRef[],
  schema: Schema | undefined,
  client: ShuffleClient,
  options: FetcherOptions,
  metrics: ShuffleReadMetrics,
  /** The native decoding's CPU time, as it is spent. */
  onCpuNanos?: (nanos: number) => void,
): AsyncGenerator<RecordBatch, void, undefined> {
  // Segments hold dictionary columns decoded (the shuffle sorter's output schema).
  const decoded = schema && decodedSchema(schema);
  const types = decoded && nativeIpcTypes(decoded);
  // File segments decoded natively are checksummed as they are read, not read once more first.
  for await (const segment of fetchShuffleBlocks(blocks, client, { ...options, readerVerifiesFiles: types !== undefined }, metrics)) {
    const { block } = segment;
    // A segment is decoded lazily, a batch at a time (from a file, a chunk at a time): decoding
    // it whole first held every decompressed batch of a segment at once (about 100 MB a task on
    // S2, outside any budget). A segment that cannot be decoded, or (read natively) does not
    // match its checksum at its end, is a fetch failure, so the map output is made again; the
    // batches already handed on belong to this task, which fails with it.
    const batches =
      'bytes' in segment
        ? deserialize([segment.bytes])
        : decoded && types
          ? readIpcRange(segment.file.path, segment.file.offset, segment.file.length, decoded, types, onCpuNanos, segment.checksum)
          : deserializeAsync(fileSegmentChunks(segment.file));
    try {
      for (;;) {
        let next: IteratorResult<RecordBatch>;
        try {
          next = await batches.next();
        } catch (error) {
          if (error instanceof TungstenError && error.code === 'FETCH_FAILED') throw error;
          throw new FetchFailedError(block.executorId, block.shuffleId, block.mapId, block.mapIndex, block.reduceId, `the segment cannot be decoded: ${(error as Error).message}`, { cause: error });
        }
        if (next.done) break;
        metrics.recordsRead += next.value.numRows;
        yield next.value;
      }
    } finally {
      await batches.return(undefined);
    }
  }
}
