/**
 * Fetches the segments a reduce task reads: Spark's ShuffleBlockFetcherIterator (spark-semantics
 * §3.9), over a ShuffleClient that reads a segment of a map output wherever it is.
 *
 * What is bounded: the bytes of fetched segments not yet handed on (bytes in flight) stay at or
 * below `maxBytesInFlight` (reducer.maxSizeInFlight, 48 MiB), except that one request is always
 * admitted when nothing is in flight, so a segment larger than the cap still moves. Every block
 * goes through requests here, those of this executor too: all executors share one host, and
 * counting local reads keeps the reader's memory bounded (Spark reads local blocks lazily).
 *
 * The algorithm:
 *   1. Zero-sized blocks are excluded (the map-output tracker never lists them). Blocks are
 *      grouped per executor into requests, cut when the accumulated size reaches
 *      targetRequestSize = max(maxBytesInFlight / 5, 1) or the count reaches
 *      maxBlocksInFlightPerAddress; the leftover group is a last request. The queue is shuffled.
 *   2. Requests are admitted while bytesInFlight == 0, or reqsInFlight + 1 <= maxReqsInFlight
 *      and bytesInFlight + size <= maxBytesInFlight.
 *   3. Blocks are handed on in completion order; a block's bytes leave the in-flight count when
 *      the consumer asks for the next block.
 *   4. A block whose bytes are missing, short, zero-length, or do not match their CRC-32 is a
 *      FetchFailedError at once when it is this executor's; another executor's is fetched once
 *      more first (AC-SH-04), and fails the second time. A block in a file on this host is
 *      checked by reading it through once in 1 MiB chunks, and handed on as the file segment:
 *      its consumer reads it again as a stream (from the page cache, in practice), so a reduce
 *      task holds a chunk of it at a time, not the segment (37 MB a block on S2).
 */
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { FetchFailedError } from '../errors.js';
import { readFileRange } from '../util/fileRange.js';
import type { ShuffleBlockRef } from './MapOutputTracker.js';

/** A byte range of a map output's data file on this host. */
export interface FileSegment {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** A fetched block: bytes in memory (from another process), or a segment of a file on this
 *  host, which is read as a stream as Spark reads local blocks (never whole into memory). */
export type FetchedSegment = { readonly bytes: Uint8Array; readonly checksum: number } | { readonly file: FileSegment; readonly checksum: number };

/** Reads the segment of one block (from a local file, or another process later). */
export interface ShuffleClient {
  /** The segment, and its expected CRC-32. */
  fetch(block: ShuffleBlockRef): Promise<FetchedSegment>;
}

/** A verified block, handed on: its bytes, or the file segment to stream; a file segment
 *  with `checksum` is not verified yet, and its reader must check it (FetcherOptions.
 *  readerVerifiesFiles). */
export type VerifiedSegment = { readonly block: ShuffleBlockRef } & (
  | { readonly bytes: Uint8Array }
  | { readonly file: FileSegment; readonly checksum?: number }
);

/** A file segment's bytes in chunks of 1 MiB; a file shorter than the segment is an error. */
export async function* fileSegmentChunks(segment: FileSegment): AsyncGenerator<Uint8Array, void, undefined> {
  const handle = await open(segment.path, 'r');
  try {
    yield* readFileRange(handle, segment.offset, segment.length);
  } finally {
    await handle.close();
  }
}

async function fileSegmentCrc32(segment: FileSegment): Promise<number> {
  let crc = 0;
  for await (const chunk of fileSegmentChunks(segment)) crc = crc32(chunk, crc);
  return crc;
}

export interface FetcherOptions {
  readonly maxBytesInFlight: number;
  readonly maxReqsInFlight?: number;
  readonly maxBlocksInFlightPerAddress?: number;
  /** This executor's id: its blocks fail at once when corrupt. */
  readonly localExecutorId: string;
  /** Deterministic request order for tests; Math.random by default. */
  readonly random?: () => number;
  /** File segments are handed on with their checksum unverified, for a reader that checks it
   *  as it reads them (the native segment reader), instead of being read once more here. */
  readonly readerVerifiesFiles?: boolean;
}

export interface FetchMetrics {
  localBytesRead: number;
  remoteBytesRead: number;
  localBlocksFetched: number;
  remoteBlocksFetched: number;
  fetchWaitTimeMs: number;
  /** The most bytes in flight at once (tests check the cap). */
  peakBytesInFlight: number;
}

export interface FetchRequest {
  readonly executorId: string;
  readonly blocks: readonly ShuffleBlockRef[];
  readonly size: number;
}

/** Step 1: per-executor requests, cut by size and block count. */
export function groupFetchRequests(blocks: readonly ShuffleBlockRef[], targetRequestSize: number, maxBlocksPerAddress: number): FetchRequest[] {
  const byExecutor = new Map<string, ShuffleBlockRef[]>();
  for (const block of blocks) {
    if (block.size <= 0) throw new RangeError(block.size < 0 ? 'Negative block size' : 'Zero-sized blocks should be excluded.');
    const list = byExecutor.get(block.executorId) ?? [];
    list.push(block);
    byExecutor.set(block.executorId, list);
  }
  const requests: FetchRequest[] = [];
  for (const [executorId, list] of byExecutor) {
    let current: ShuffleBlockRef[] = [];
    let size = 0;
    for (const block of list) {
      current.push(block);
      size += block.size;
      if (size >= targetRequestSize || current.length >= maxBlocksPerAddress) {
        requests.push({ executorId, blocks: current, size });
        current = [];
        size = 0;
      }
    }
    if (current.length > 0) requests.push({ executorId, blocks: current, size });
  }
  return requests;
}

/** The blocks' segments, in completion order, within the in-flight cap. */
export async function* fetchShuffleBlocks(
  blocks: readonly ShuffleBlockRef[],
  client: ShuffleClient,
  options: FetcherOptions,
  metrics: FetchMetrics,
): AsyncGenerator<VerifiedSegment, void, undefined> {
  const maxBytes = options.maxBytesInFlight;
  const maxReqs = options.maxReqsInFlight ?? Number.MAX_SAFE_INTEGER;
  const queue = groupFetchRequests(blocks, Math.max(Math.floor(maxBytes / 5), 1), options.maxBlocksInFlightPerAddress ?? Number.MAX_SAFE_INTEGER);
  const random = options.random ?? Math.random;
  for (let i = queue.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [queue[i], queue[j]] = [queue[j]!, queue[i]!];
  }
  let bytesInFlight = 0;
  let reqsInFlight = 0;
  const done: VerifiedSegment[] = [];
  let failure: unknown;
  let wake: (() => void) | undefined;
  let pending = 0;

  const fetchVerified = async (block: ShuffleBlockRef): Promise<VerifiedSegment> => {
    const local = block.executorId === options.localExecutorId;
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      let cause: unknown;
      try {
        const fetched = await client.fetch(block);
        const length = 'bytes' in fetched ? fetched.bytes.byteLength : fetched.file.length;
        if (length === 0) problem = 'the fetched segment is empty';
        else if (length !== block.size) problem = `the segment has ${length} bytes, the map output said ${block.size}`;
        else if ('file' in fetched && options.readerVerifiesFiles) return { block, file: fetched.file, checksum: fetched.checksum };
        else if (('bytes' in fetched ? crc32(fetched.bytes) : await fileSegmentCrc32(fetched.file)) !== fetched.checksum) problem = 'the segment does not match its checksum (corrupt)';
        else return 'bytes' in fetched ? { block, bytes: fetched.bytes } : { block, file: fetched.file };
      } catch (error) {
        problem = (error as Error).message;
        cause = error;
      }
      // A remote block seen corrupt for the first time is fetched once more.
      if (local || attempt >= 2 || cause !== undefined) {
        throw new FetchFailedError(block.executorId, block.shuffleId, block.mapId, block.mapIndex, block.reduceId, problem, { cause });
      }
    }
  };

  const launch = (request: FetchRequest): void => {
    bytesInFlight += request.size;
    reqsInFlight++;
    pending++;
    metrics.peakBytesInFlight = Math.max(metrics.peakBytesInFlight, bytesInFlight);
    void (async () => {
      try {
        for (const block of request.blocks) {
          const segment = await fetchVerified(block);
          if (block.executorId === options.localExecutorId) {
            metrics.localBytesRead += block.size;
            metrics.localBlocksFetched++;
          } else {
            metrics.remoteBytesRead += block.size;
            metrics.remoteBlocksFetched++;
          }
          done.push(segment);
          // The consumer may start on this block while the request's next ones are read.
          wake?.();
        }
      } catch (error) {
        failure ??= error;
      } finally {
        reqsInFlight--;
        pending--;
        wake?.();
      }
    })();
  };

  const admit = (): void => {
    while (queue.length > 0) {
      const next = queue[0]!;
      const fits = bytesInFlight === 0 || (reqsInFlight + 1 <= maxReqs && bytesInFlight + next.size <= maxBytes);
      if (!fits) return;
      queue.shift();
      launch(next);
    }
  };

  try {
    admit();
    while (done.length > 0 || pending > 0 || queue.length > 0) {
      if (failure !== undefined) throw failure;
      if (done.length === 0) {
        const waitStart = performance.now();
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        metrics.fetchWaitTimeMs += performance.now() - waitStart;
        if (failure !== undefined) throw failure;
        admit();
        continue;
      }
      const result = done.shift()!;
      yield result;
      bytesInFlight -= result.block.size;
      admit();
    }
    // A request can fail while the consumer holds the last good block; the loop then ends with
    // nothing pending, and the failure must still be thrown, or the blocks it lost are missing
    // from the task's input without a word.
    if (failure !== undefined) throw failure;
  } finally {
    // Abandoned early: let running reads finish so no file stays open behind the caller.
    while (pending > 0) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
}
