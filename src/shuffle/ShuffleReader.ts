/**
 * The reduce side of a shuffle: the batches of the blocks a reduce task was given, fetched
 * within the in-flight cap (ShuffleBlockFetcher.ts) and decoded segment by segment. A segment
 * that cannot be decoded is a fetch failure too: the map output is re-made, never misread.
 */
import type { RecordBatch } from 'apache-arrow';
import { open } from 'node:fs/promises';
import { FetchFailedError, TungstenError } from '../errors.js';
import { deserialize } from '../storage/serialization.js';
import { type FetcherOptions, fetchShuffleBlocks, type FetchMetrics, type ShuffleClient } from './ShuffleBlockFetcher.js';
import type { IndexShuffleBlockResolver } from './IndexShuffleBlockResolver.js';
import type { ShuffleBlockRef } from './MapOutputTracker.js';

/** Reads segments from the data files of executors on this host, through their resolvers. */
export class LocalShuffleClient implements ShuffleClient {
  constructor(private readonly resolverOf: (executorId: string) => IndexShuffleBlockResolver | undefined) {}

  async fetch(block: ShuffleBlockRef): Promise<{ bytes: Uint8Array; checksum: number }> {
    const resolver = this.resolverOf(block.executorId);
    if (!resolver) throw new Error(`executor ${block.executorId} is gone`);
    const segment = await resolver.getBlockData(block.shuffleId, block.mapId, block.reduceId, block.reduceId + 1);
    const handle = await open(segment.path, 'r');
    try {
      const bytes = new Uint8Array(segment.length);
      const { bytesRead } = await handle.read(bytes, 0, segment.length, segment.offset);
      return { bytes: bytes.subarray(0, bytesRead), checksum: segment.checksums[0]! };
    } finally {
      await handle.close();
    }
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

export async function* readShuffleBlocks(
  blocks: readonly ShuffleBlockRef[],
  client: ShuffleClient,
  options: FetcherOptions,
  metrics: ShuffleReadMetrics,
): AsyncGenerator<RecordBatch, void, undefined> {
  for await (const { block, bytes } of fetchShuffleBlocks(blocks, client, options, metrics)) {
    let batches: RecordBatch[];
    try {
      batches = [...deserialize([bytes])];
    } catch (error) {
      if (error instanceof TungstenError && error.code === 'FETCH_FAILED') throw error;
      throw new FetchFailedError(block.executorId, block.shuffleId, block.mapId, block.mapIndex, block.reduceId, `the segment cannot be decoded: ${(error as Error).message}`, { cause: error });
    }
    for (const batch of batches) {
      metrics.recordsRead += batch.numRows;
      yield batch;
    }
  }
}
