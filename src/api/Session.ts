/**
 * A session: one driver (DAG scheduler, task scheduler, map-output tracker, listener bus) and
 * one in-process executor with `cores` slots, its memory manager, block manager and shuffle
 * files. They talk through LocalExecutorBackend's serialized messages only; what makes the
 * executor in-process for now is that it can reach the session's registered sources and the
 * functions of mapBatches/filter.
 *
 * close() kills running tasks, waits for them to release their memory, deletes every shuffle,
 * spill and block file and the session's folders, and may be called twice.
 */
import { tmpdir } from 'node:os';
import type { RecordBatch, Table } from 'apache-arrow';
import { resolveConfig, type TungstenConfig, type TungstenOptions } from '../config/options.js';
import type { Size } from '../config/size.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { createMemoryManager } from '../memory/createMemoryManager.js';
import type { MemoryManager } from '../memory/MemoryManager.js';
import { Executor } from '../executor/Executor.js';
import type { BatchFunction } from '../executor/pipeline.js';
import { addon } from '../native/addon.js';
import type { SourceRegistry } from '../plan/sources.js';
import { DAGScheduler, type JobMetrics } from '../scheduler/DAGScheduler.js';
import { ListenerBus, type SchedulerListener } from '../scheduler/ListenerBus.js';
import { LocalExecutorBackend } from '../scheduler/messages.js';
import { TaskScheduler, type TaskResultHandle } from '../scheduler/TaskScheduler.js';
import { IndexShuffleBlockResolver } from '../shuffle/IndexShuffleBlockResolver.js';
import { MapOutputTracker } from '../shuffle/MapOutputTracker.js';
import { LocalShuffleClient } from '../shuffle/ShuffleReader.js';
import { BlockId } from '../storage/BlockId.js';
import { BlockManager } from '../storage/BlockManager.js';
import { NON_TASK_WRITER } from '../storage/BlockInfoManager.js';
import { DiskBlockManager } from '../storage/DiskBlockManager.js';
import { ChunkedBytes, deserialize } from '../storage/serialization.js';
import { Dataset, type SourceInput } from './Dataset.js';
import type { WorkloadKind } from './generator.js';

export type SessionOptions = Omit<TungstenOptions, 'memory'> & {
  /** Task slots (executor.cores). */
  readonly cores?: number;
  /** The native memory budget (memory.offHeap.size), e.g. '256m'; or the nested memory.* keys. */
  readonly memory?: Size | TungstenOptions['memory'];
  /** Folders for shuffle, spill and block files (local.dir). */
  readonly localDirs?: readonly string[];
  /** Partitions of sortBy and groupBy shuffles (sql.shuffle.partitions). */
  readonly shufflePartitions?: number;
  /** JSON-lines event log path (eventLog.path). */
  readonly eventLog?: string;
  /** Where warnings go (leaks, dropped results); default stderr. */
  readonly onWarning?: (message: string) => void;
};

const EXECUTOR_ID = 'executor-0';

export class Session {
  readonly config: TungstenConfig;
  readonly memoryManager: MemoryManager;
  /** The executor's block manager (cached partitions, task results). */
  readonly blockManager: BlockManager;
  readonly mapOutputTracker = new MapOutputTracker();
  /** Metrics of the last job an action ran. */
  lastJob: JobMetrics | undefined;
  /** Every job so far, sampling jobs included, oldest first. */
  readonly jobs: JobMetrics[] = [];

  private readonly bus: ListenerBus;
  private readonly diskBlockManager: DiskBlockManager;
  private readonly resolver: IndexShuffleBlockResolver;
  private readonly executor: Executor;
  private readonly taskScheduler: TaskScheduler;
  /** @internal */ readonly dagScheduler: DAGScheduler;
  private readonly tables = new Map<number, Table>();
  private readonly batchSources = new Map<number, Iterable<RecordBatch> | AsyncIterable<RecordBatch> | null>();
  private readonly functions = new Map<number, BatchFunction>();
  private readonly activeJobs = new Set<AbortController>();
  private nextId = 0;
  /** Ids of the driver's own memory users (sorting a sample), apart from task ids and from
   *  the block info manager's NO_WRITER (−1) and NON_TASK_WRITER (−1024). */
  private nextDriverTask = -2048;
  private closed = false;
  /** @internal A sortBy shuffle's range bounds by shuffle id, once its sampling job ran. */
  readonly rangeBounds = new Map<number, string>();

  private constructor(options: SessionOptions) {
    const { cores, memory, localDirs, shufflePartitions, eventLog, onWarning, ...rest } = options;
    this.config = resolveConfig({
      ...rest,
      ...(cores !== undefined ? { 'executor.cores': cores } : {}),
      ...(typeof memory === 'string' || typeof memory === 'number' ? { 'memory.offHeap.size': memory } : memory !== undefined ? { memory } : {}),
      ...(localDirs !== undefined ? { 'local.dir': localDirs } : {}),
      ...(shufflePartitions !== undefined ? { 'sql.shuffle.partitions': shufflePartitions } : {}),
      ...(eventLog !== undefined ? { 'eventLog.path': eventLog } : {}),
    } as TungstenOptions);
    const config = this.config;
    this.bus = new ListenerBus(config['eventLog.path']);
    this.memoryManager = createMemoryManager(config);
    this.diskBlockManager = new DiskBlockManager(config['local.dir'] ?? [tmpdir()]);
    this.blockManager = BlockManager.fromConfig(this.memoryManager, config, { diskBlockManager: this.diskBlockManager });
    this.resolver = new IndexShuffleBlockResolver(this.diskBlockManager);
    const backend = new LocalExecutorBackend();
    this.taskScheduler = new TaskScheduler(this.bus, (id, bytes) => backend.sendToExecutor(id, bytes), config['task.maxFailures'], config['driver.maxResultSize']);
    backend.setDriver(this.taskScheduler);
    const sources: SourceRegistry = {
      table: (id) => {
        const table = this.tables.get(id);
        if (!table) throw new InvalidArgumentError(`source table ${id} is not registered`);
        return table;
      },
      takeBatches: (id) => {
        const batches = this.batchSources.get(id);
        if (!batches) {
          throw new InvalidArgumentError('an iterable of batches can be read once, and it was read already (by an earlier action or a failed attempt); use a Table or a file to read again');
        }
        this.batchSources.set(id, null);
        return batches;
      },
    };
    this.executor = new Executor({
      executorId: EXECUTOR_ID,
      cores: config['executor.cores'],
      config,
      memoryManager: this.memoryManager,
      blockManager: this.blockManager,
      diskBlockManager: this.diskBlockManager,
      resolver: this.resolver,
      shuffleClient: new LocalShuffleClient((id) => (id === EXECUTOR_ID ? this.resolver : undefined)),
      sources,
      functions: (id) => {
        const fn = this.functions.get(id);
        if (!fn) throw new InvalidArgumentError(`function ${id} is not registered in this session`);
        return fn;
      },
      sendToDriver: (bytes) => backend.sendToDriver(bytes),
      warn: onWarning ?? ((message) => process.stderr.write(`tungsten: ${message}\n`)),
    });
    backend.addExecutor(EXECUTOR_ID, this.executor);
    this.dagScheduler = new DAGScheduler(this.taskScheduler, this.mapOutputTracker, this.bus, (result) => this.fetchResult(result), {
      maxStageAttempts: config['stage.maxConsecutiveAttempts'],
      bypassMergeThreshold: config['shuffle.sort.bypassMergeThreshold'],
      coalesce: config['sql.adaptive.coalescePartitions.enabled']
        ? {
            advisoryPartitionBytes: config['sql.adaptive.advisoryPartitionSizeInBytes'],
            minPartitionBytes: config['sql.adaptive.coalescePartitions.minPartitionSize'],
            minNumPartitions: config['sql.adaptive.coalescePartitions.parallelismFirst'] ? this.defaultParallelism : 1,
          }
        : undefined,
    });
  }

  static async create(options: SessionOptions = {}): Promise<Session> {
    const session = new Session(options);
    session.bus.post({ Event: 'ApplicationStart', time: Date.now(), cores: session.config['executor.cores'], config: { ...session.config } });
    session.executor.start();
    await session.taskScheduler.whenExecutorRegistered();
    return session;
  }

  /** Listens to job, stage and task events; returns a function that stops listening. */
  onEvent(listener: SchedulerListener): () => void {
    return this.bus.addListener(listener);
  }

  /** An Arrow table, split by its batches into up to `partitions` partitions. */
  fromArrow(table: Table, options: { partitions?: number } = {}): Dataset {
    this.checkOpen();
    const id = this.nextId++;
    this.tables.set(id, table);
    return Dataset.fromSource(this, { kind: 'table', registryId: id, table, ...options });
  }

  /** An (async) iterable of batches: one partition, read once. */
  fromBatches(batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>): Dataset {
    this.checkOpen();
    const id = this.nextId++;
    this.batchSources.set(id, batches);
    return Dataset.fromSource(this, { kind: 'batches', registryId: id });
  }

  /** An Arrow IPC file (split by record batches) or stream (one partition), read batch by batch. */
  readArrow(path: string, options: { partitions?: number } = {}): Dataset {
    this.checkOpen();
    return Dataset.fromSource(this, { kind: 'ipcFile', path, ...options });
  }

  /** WORKLOADS.md's seeded data: 'keyPayload', 'stringKey', 'groups' (with `groups`), 'records100'. */
  generate(workload: WorkloadKind, options: { rows: number; groups?: number; seed?: number; batchRows?: number; partitions?: number }): Dataset {
    this.checkOpen();
    return Dataset.fromSource(this, { kind: 'generator', workload, ...options });
  }

  /** Cancels every running job; their tasks are killed at the next batch boundary. */
  cancelAllJobs(reason = 'cancelled by the session'): void {
    for (const controller of this.activeJobs) controller.abort(reason);
  }

  /** Stops the executor, deletes every file, releases all memory. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelAllJobs('the session is closing');
    await this.executor.stop();
    for (const shuffleId of this.mapOutputTracker.shuffleIds) {
      for (const status of this.mapOutputTracker.outputs(shuffleId)) await this.resolver.removeDataByMap(shuffleId, status.mapId);
      this.mapOutputTracker.unregisterShuffle(shuffleId);
    }
    await this.blockManager.close();
    this.diskBlockManager.closeSync();
    addon.releaseCachedOutputBytes();
    this.tables.clear();
    this.batchSources.clear();
    this.functions.clear();
    this.bus.post({ Event: 'ApplicationEnd', time: Date.now() });
    this.bus.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  registerFunction(fn: BatchFunction): number {
    if (typeof fn !== 'function') throw new InvalidArgumentError('mapBatches and filter take a function of a RecordBatch');
    const id = this.nextId++;
    this.functions.set(id, fn);
    return id;
  }

  /** @internal */
  nextDriverTaskId(): number {
    return this.nextDriverTask--;
  }

  /** @internal */
  nextPlanId(): number {
    return this.nextId++;
  }

  /** @internal Runs a job with a controller the session can cancel. */
  async runJob(run: (signal: AbortSignal) => Promise<JobMetrics>, signal?: AbortSignal): Promise<JobMetrics> {
    this.checkOpen();
    const controller = new AbortController();
    const forward = (): void => controller.abort(signal?.reason ?? 'cancelled');
    if (signal?.aborted) controller.abort(signal.reason);
    signal?.addEventListener('abort', forward, { once: true });
    this.activeJobs.add(controller);
    try {
      const metrics = await run(controller.signal);
      this.jobs.push(metrics);
      return metrics;
    } finally {
      this.activeJobs.delete(controller);
      signal?.removeEventListener('abort', forward);
    }
  }

  /** @internal The bytes of a task's result, fetched (and removed) from the executor when indirect. */
  async fetchResult(result: TaskResultHandle): Promise<ChunkedBytes> {
    if (result.ref.kind === 'direct') return new ChunkedBytes([result.payload]);
    const id = BlockId.parse(result.ref.blockId);
    const bytes = await this.blockManager.getLocalBytes(id);
    await this.blockManager.removeBlock(id);
    if (!bytes) throw new InvalidArgumentError(`task result ${result.ref.blockId} is gone from executor ${result.executorId}`);
    return bytes;
  }

  /** @internal The batches of a task's result, read as a stream (an indirect result may be
   *  larger than memory: it is then on disk) and removed once read or abandoned. */
  async *resultBatches(result: TaskResultHandle): AsyncGenerator<RecordBatch, void, undefined> {
    if (result.ref.kind === 'direct') {
      yield* deserialize([result.payload]);
      return;
    }
    const id = BlockId.parse(result.ref.blockId);
    const block = await this.blockManager.getLocalValues(id, NON_TASK_WRITER, undefined, { readOnce: true });
    if (!block) throw new InvalidArgumentError(`task result ${result.ref.blockId} is gone from executor ${result.executorId}`);
    try {
      yield* block;
    } finally {
      await block.close();
      await this.blockManager.removeBlock(id);
    }
  }

  /** @internal Drops a result that will not be read. */
  async discardResult(result: TaskResultHandle): Promise<void> {
    if (result.ref.kind === 'indirect' && result.ref.stored) await this.blockManager.removeBlock(BlockId.parse(result.ref.blockId));
  }

  /** @internal */
  get defaultParallelism(): number {
    return this.config['default.parallelism'] ?? this.config['executor.cores'];
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('the session');
  }
}

export type { SourceInput };
