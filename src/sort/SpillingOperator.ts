/**
 * What the operators that spill sorted runs share (the external sorter, the hash
 * aggregation): the memory they hold, their runs on disk, and the merge that reads them back.
 *
 * What is tracked, and who reserves it: data pages and one array (the sorter's pointer array,
 * the aggregation's slot array) are granted by the task's TaskMemoryManager before native code
 * writes into them (PagedOperator, which also serialises native operations); the read buffers
 * of the final merge are acquired before the merge starts (reserveMergeMemory). Native code
 * allocates none of these itself.
 */
import type { RecordBatch, Table } from 'apache-arrow';
import { InvalidArgumentError } from '../errors.js';
import { MAXIMUM_PAGE_SIZE_BYTES, type TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import type { SpillRun } from '../native/addon.js';
import { DiskBlockManager } from '../storage/DiskBlockManager.js';
import { releaseNativeBatch } from './arrowBatches.js';
import { PagedOperator } from './PagedOperator.js';

export interface SpillOptions {
  /** Where spill files go; by default a folder in the system temp folder, removed on close. */
  readonly diskBlockManager?: DiskBlockManager;
  /** Compression of spill blocks. Default 'none': spilling here is CPU-bound and LZ4 costs more
   *  time than the disk saves (see bench/sort.bench.ts). */
  readonly compression?: 'none' | 'lz4';
  /** Bytes per spill block, also each run's read buffer. Default 1 MiB, and never more than the
   *  page size nor the memory manager's maxSpillBlockBytes: read buffers are accounted memory,
   *  and the page size's 1 MiB floor alone could exceed what a task of a small budget may hold,
   *  so that its runs could never be merged. */
  readonly spillBlockBytes?: number;
}

export abstract class SpillingOperator<Handle> extends PagedOperator<Handle> {
  protected readonly runs: SpillRun[] = [];
  protected readonly diskBlockManager: DiskBlockManager;
  private readonly ownsDiskBlockManager: boolean;
  protected readonly spillBlockBytes: number;
  protected readonly compressed: boolean;
  private readReservation = 0;
  protected memoryBytesSpilled = 0;

  protected constructor(taskMemoryManager: TaskMemoryManager, options: SpillOptions, what: string) {
    super(taskMemoryManager, what, MAXIMUM_PAGE_SIZE_BYTES);
    // At most a page, and small enough that the task's share of the pool can merge runs.
    this.spillBlockBytes = Math.max(
      1024,
      Math.min(
        positiveInteger(options.spillBlockBytes ?? 2 ** 20, 'spillBlockBytes'),
        taskMemoryManager.pageSizeBytes,
        taskMemoryManager.maxSpillBlockBytes,
      ),
    );
    const compression = options.compression ?? 'none';
    if (compression !== 'none' && compression !== 'lz4') {
      throw new InvalidArgumentError(`compression must be 'none' or 'lz4', got ${String(compression)}`);
    }
    this.compressed = compression === 'lz4';
    this.ownsDiskBlockManager = options.diskBlockManager === undefined;
    this.diskBlockManager = options.diskBlockManager ?? new DiskBlockManager();
  }

  /** Keeps the final metrics, marks the operator closed and releases the native operator. */
  protected abstract closeNative(): void;
  /** True when records are in memory (they need a read buffer should they be spilled while read). */
  protected abstract hasRecordsInMemory(): boolean;
  protected abstract nativeMergeRuns(runs: SpillRun[], path: string): Promise<SpillRun>;

  /** Adds one batch; it must have the operator's input schema. */
  abstract insert(batch: RecordBatch): Promise<void>;

  /**
   * Adds every batch of a table or a (possibly async) stream of batches. The next batch is
   * requested while native code works on the current one, so that reading the source (an IPC
   * file being decoded, say) overlaps with the work instead of waiting for it. With
   * `releaseInserted`, each batch is released once inserted (releaseNativeBatch): for the
   * engine's own batches that nothing else holds, a shuffle's decoded segments.
   */
  async insertAll(source: Table | Iterable<RecordBatch> | AsyncIterable<RecordBatch>, options?: { releaseInserted?: boolean }): Promise<void> {
    const batches = 'batches' in source ? source.batches : source;
    const iterator: Iterator<RecordBatch> | AsyncIterator<RecordBatch> =
      Symbol.asyncIterator in batches ? batches[Symbol.asyncIterator]() : batches[Symbol.iterator]();
    let next = Promise.resolve(iterator.next());
    try {
      for (;;) {
        const result = await next;
        if (result.done) return;
        next = Promise.resolve(iterator.next());
        // Should insert() fail first, the read ahead must not become an unhandled rejection.
        next.catch(() => undefined);
        await this.insert(result.value);
        if (options?.releaseInserted) releaseNativeBatch(result.value);
      }
    } catch (error) {
      await iterator.return?.();
      throw error;
    }
  }

  /** Spill files written and not yet removed (for tests and reports). */
  get spillFiles(): readonly string[] {
    return this.runs.map((r) => r.path);
  }

  /** Frees every page and byte and deletes every spill file. Idempotent; safe after errors. */
  async close(): Promise<void> {
    if (this.isClosed()) return;
    await this.opLock.run(async () => {
      if (this.isClosed()) return;
      this.closeNative();
      await this.releaseEverything();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * What spill() does in both operators, under the operation lock: unless the operator is closed
   * or `worthIt()` says there is nothing to gain, writes a run with `nativeSpill` (which lets go
   * of every page and the array), keeps the run, and frees the memory; returns the bytes freed.
   */
  protected spillWith(worthIt: () => boolean, nativeSpill: (path: string) => Promise<SpillRun | null>): Promise<number> {
    if (this.isClosed()) return Promise.resolve(0);
    return this.opLock.run(async () => {
      if (this.isClosed() || !worthIt()) return 0;
      const run = await nativeSpill(this.diskBlockManager.newTempPath());
      const freed = this.freeInMemoryData();
      // Memory let go of with nothing written (an empty map, output read past memory) is not
      // spilled memory: it would show memory spilled against no disk bytes.
      if (run !== null) {
        this.runs.push(run);
        this.memoryBytesSpilled += freed;
      }
      return freed;
    });
  }

  /** Frees the merge's read buffers, which reserveMergeMemory() acquired. */
  protected releaseReadReservation(): void {
    if (this.readReservation > 0) this.freeMemory(this.readReservation);
    this.readReservation = 0;
  }

  private async releaseEverything(): Promise<void> {
    this.freeInMemoryData();
    this.releaseReadReservation();
    const files = this.runs.splice(0).map((r) => r.path);
    await Promise.all(files.map((path) => this.diskBlockManager.remove(path)));
    if (this.ownsDiskBlockManager) this.diskBlockManager.closeSync();
  }

  /**
   * Reserves a read buffer for every run (and one for the in-memory records, should they be
   * spilled while read). If that cannot be had, merges the smallest runs into one, within what
   * could be acquired, and tries again.
   */
  protected async reserveMergeMemory(): Promise<void> {
    for (;;) {
      // A reader holds one raw block, and one stored block too when the run is compressed.
      const need = (): number =>
        this.runs.reduce((sum, run) => sum + run.maxBlockBytes * (run.codec === 0 ? 1 : 2), 0) +
        (this.hasRecordsInMemory() ? this.spillBlockBytes * (this.compressed ? 2 : 1) : 0);
      const wanted = need();
      if (wanted === 0) return;
      const got = await this.acquireMemory(wanted);
      // Acquiring may have spilled this operator; what it needs may have grown.
      if (got >= need()) {
        this.readReservation = got;
        return;
      }
      this.freeMemory(got);
      await this.mergeSmallestRuns(got);
    }
  }

  private async mergeSmallestRuns(available: number): Promise<void> {
    // Per reader (and for the writer): a raw block, and a compressed one when compressing.
    const block = Math.max(this.spillBlockBytes, ...this.runs.map((r) => r.maxBlockBytes)) * (this.compressed ? 2 : 1);
    // Readers for the merged runs plus the writer's block.
    const fanIn = Math.min(this.runs.length, Math.floor(available / block) - 1);
    if (fanIn < 2) {
      throw this.taskMemoryManager.outOfMemory(
        `Not enough memory to merge ${this.runs.length} spilled runs: each needs a ${block}-byte read buffer ` +
          `and ${available} bytes could be acquired; give the task more memory or use smaller spill blocks`,
      );
    }
    this.runs.sort((a, b) => a.rawBytes - b.rawBytes);
    const inputs = this.runs.slice(0, fanIn);
    const reserved = await this.acquireMemory((fanIn + 1) * block);
    try {
      if (reserved < (fanIn + 1) * block) {
        throw this.taskMemoryManager.outOfMemory(`Unable to acquire ${(fanIn + 1) * block} bytes to merge spilled runs`);
      }
      const merged = await this.run(() => this.nativeMergeRuns(inputs, this.diskBlockManager.newTempPath()));
      this.runs.splice(0, fanIn, merged);
      await Promise.all(inputs.map((run) => this.diskBlockManager.remove(run.path)));
    } finally {
      this.freeMemory(reserved);
    }
  }
}

export function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive whole number, got ${value}`);
  }
  return value;
}
