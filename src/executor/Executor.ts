/**
 * An executor: `cores` task slots, each task run by a TaskRunner with Spark's lifecycle
 * (spark-semantics §4.1), talking to the driver only through serialized messages.
 *
 * TaskRunner.run, in numbered steps as §4.1:
 *   1. Send RUNNING (empty) before the task is decoded.
 *   2. Create the task's TaskMemoryManager; decode the description; register with the block
 *      manager.
 *   3. A kill that arrived before this point throws TaskKilledError: the body never runs.
 *   4. Run the fragment: write shuffle output (a map task) or compute its result.
 *   5. finally: every operator is closed by then (pipeline.ts); release the task's block locks,
 *      its unroll memory and all its execution memory. If the task did not throw, memory still
 *      held is "Managed memory leak detected; size = F bytes, TID = T" and locks still held are
 *      "N block locks were not released by TID = T:\n[ids]": warnings, or errors when
 *      unsafe.exceptionOnMemoryLeak / storage.exceptionOnPinLeak say so.
 *   6. A kill that arrived meanwhile throws now.
 *   7. The result's bytes: above driver.maxResultSize it is dropped (the driver fails the job);
 *      above min(task.maxDirectResultSize, rpc.message.maxSize) it is stored in the block
 *      manager as taskresult_T and sent as a reference; else inline. Result blocks are stored
 *      at the OFF_HEAP level (serialized, memory then disk): their bytes count against the
 *      native budget (memory.offHeap.size) the user sized, not the ON_HEAP pools.
 *   9. Failures: TaskKilledError, or any error while a kill reason is set → KILLED; a fetch
 *      failure (also wrapped, or swallowed by user code) → FAILED(fetchFailed); else FAILED with
 *      the error's name, code and message.
 *  10. The task always leaves `running`.
 *
 * Heartbeats every executor.heartbeatInterval ms carry the running tasks' metrics so far.
 */
import { makeData, RecordBatch, RecordBatchReader, type Schema, Struct, vectorFromArray } from 'apache-arrow';
import type { TungstenConfig } from '../config/options.js';
import { FetchFailedError, InternalError, LeakError, TaskKilledError, TungstenError } from '../errors.js';
import type { MemoryManager } from '../memory/MemoryManager.js';
import { MemoryMode } from '../memory/MemoryMode.js';
import { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import { PartitionerKind, type NativePartitioner } from '../native/addon.js';
import type { PartitionerDescriptor } from '../plan/PlanNode.js';
import type { SourceRegistry } from '../plan/sources.js';
import {
  decodeMessage,
  emptyTaskMetrics,
  encodeMessage,
  type Message,
  type TaskDescription,
  type TaskFailure,
  type TaskMetrics,
  type TaskResultRef,
  type TaskState,
} from '../scheduler/messages.js';
import type { IndexShuffleBlockResolver } from '../shuffle/IndexShuffleBlockResolver.js';
import type { ShuffleClient } from '../shuffle/ShuffleBlockFetcher.js';
import { emptyShuffleReadMetrics } from '../shuffle/ShuffleReader.js';
import { chooseShuffleWriter, writeMapOutput } from '../shuffle/ShuffleWriter.js';
import { fieldIndex } from '../sort/columnTypes.js';
import { BlockId } from '../storage/BlockId.js';
import type { BlockManager } from '../storage/BlockManager.js';
import type { DiskBlockManager } from '../storage/DiskBlockManager.js';
import { ChunkedBytes, serializeBatches } from '../storage/serialization.js';
import { StorageLevel } from '../storage/StorageLevel.js';
import { type BatchFunction, checkKilled, compute, computeConsumed, type TaskContext } from './pipeline.js';

export interface ExecutorEnv {
  readonly executorId: string;
  readonly cores: number;
  readonly config: TungstenConfig;
  readonly memoryManager: MemoryManager;
  readonly blockManager: BlockManager;
  readonly diskBlockManager: DiskBlockManager;
  readonly resolver: IndexShuffleBlockResolver;
  readonly shuffleClient: ShuffleClient;
  readonly sources: SourceRegistry;
  readonly functions: (fnId: number) => BatchFunction;
  /** The wire to the driver. */
  readonly sendToDriver: (bytes: Uint8Array) => void;
  /** Where warnings go (leaks, dropped results). */
  readonly warn: (message: string) => void;
  /** Test hook: runs before a task's body, after RUNNING and decoding. */
  readonly beforeTaskBody?: (task: TaskDescription) => void | Promise<void>;
}

/** A deterministic PRNG (mulberry32) for sampling: a retried task draws the same sample. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class TaskRunner {
  killReason: string | undefined;
  context: TaskContext | undefined;
  readonly started = performance.now();

  constructor(
    private readonly env: ExecutorEnv,
    private readonly task: TaskDescription,
  ) {}

  kill(reason: string): void {
    this.killReason ??= reason;
    if (this.context) this.context.killReason ??= reason;
  }

  private send(state: TaskState, extra: Partial<Extract<Message, { type: 'StatusUpdate' }>> = {}, payload?: Uint8Array): void {
    this.env.sendToDriver(encodeMessage({ type: 'StatusUpdate', executorId: this.env.executorId, taskId: this.task.taskId, state, ...extra }, payload));
  }

  metricsSoFar(): TaskMetrics {
    const metrics = emptyTaskMetrics();
    metrics.executorRunTimeMs = performance.now() - this.started;
    const context = this.context;
    if (!context) return metrics;
    for (const operator of context.operators) {
      const m = operator.metrics;
      metrics.spillCount += m.spillCount;
      metrics.mergePasses += m.mergePasses ?? 0;
      metrics.memoryBytesSpilled += m.memoryBytesSpilled;
      metrics.diskBytesSpilled += m.diskBytesSpilled;
      metrics.peakExecutionMemory = Math.max(metrics.peakExecutionMemory, m.peakExecutionMemory);
      metrics.executorCpuTimeMs += m.cpuTimeMs;
    }
    metrics.executorCpuTimeMs += context.decodeCpuNanos / 1e6;
    metrics.inputRecords = context.inputRecords;
    const read = context.shuffleRead;
    metrics.shuffleReadBytes = read.localBytesRead + read.remoteBytesRead;
    metrics.shuffleReadRecords = read.recordsRead;
    metrics.shuffleFetchWaitTimeMs = read.fetchWaitTimeMs;
    metrics.shuffleReadTimeMs = read.readTimeMs;
    const write = context.shuffleWrite;
    if (write) {
      metrics.shuffleWriteBytes = write.bytesWritten;
      metrics.shuffleWriteRecords = write.recordsWritten;
      metrics.shuffleWriteTimeMs = write.writeTimeMs;
    }
    return metrics;
  }

  async run(): Promise<void> {
    const { env, task } = this;
    // 1. RUNNING before anything else.
    this.send('RUNNING');
    const taskMemoryManager = new TaskMemoryManager(env.memoryManager, task.taskId);
    env.blockManager.registerTask(task.taskId);
    const context: TaskContext = {
      description: task,
      taskMemoryManager,
      blockManager: env.blockManager,
      diskBlockManager: env.diskBlockManager,
      shuffleClient: env.shuffleClient,
      sources: env.sources,
      functions: env.functions,
      executorId: env.executorId,
      fetch: {
        maxBytesInFlight: env.config['reducer.maxSizeInFlight'],
        maxReqsInFlight: env.config['reducer.maxReqsInFlight'],
        maxBlocksInFlightPerAddress: env.config['reducer.maxBlocksInFlightPerAddress'],
      },
      shuffleRead: emptyShuffleReadMetrics(),
      operators: [],
      inputRecords: 0,
      decodeCpuNanos: 0,
      killReason: this.killReason,
    };
    this.context = context;
    const warnings: string[] = [];
    let value: TaskValue = { kind: 'bytes', bytes: ChunkedBytes.EMPTY };
    let failure: unknown;
    let threw = false;
    try {
      try {
        // 3. Killed before the body ran.
        checkKilled(context);
        await env.beforeTaskBody?.(task);
        checkKilled(context);
        // 4. The body.
        value = await this.runBody(context);
      } catch (error) {
        threw = true;
        failure = error;
      } finally {
        // 5. Every operator is closed by now; release what the task may still hold.
        const releasedLocks = env.blockManager.releaseAllLocksForTask(task.taskId);
        env.blockManager.memoryStore.releaseUnrollMemoryForThisTask(MemoryMode.ON_HEAP, Number.MAX_SAFE_INTEGER, task.taskId);
        env.blockManager.memoryStore.releaseUnrollMemoryForThisTask(MemoryMode.OFF_HEAP, Number.MAX_SAFE_INTEGER, task.taskId);
        const freed = taskMemoryManager.cleanUpAllAllocatedMemory();
        if (!threw) {
          if (freed > 0) {
            const message = `Managed memory leak detected; size = ${freed} bytes, TID = ${task.taskId}`;
            if (env.config['unsafe.exceptionOnMemoryLeak']) {
              threw = true;
              failure = new LeakError('MEMORY_LEAK', message);
            } else warnings.push(message);
          }
          if (releasedLocks.length > 0) {
            const message = `${releasedLocks.length} block locks were not released by TID = ${task.taskId}:\n[${releasedLocks.map((id) => id.name).join(', ')}]`;
            if (env.config['storage.exceptionOnPinLeak']) {
              threw = true;
              failure ??= new LeakError('LOCK_LEAK', message);
            } else warnings.push(message);
          }
        }
      }
      for (const warning of warnings) env.warn(warning);
      // 6. A kill that came while the task finished.
      if (!threw) checkKilled(context);
      if (threw) throw failure;
      // 7. Route the result by size.
      const metrics = { ...this.metricsSoFar(), resultSize: value.kind === 'bytes' ? value.bytes.size : value.size };
      const { ref, payload } = await this.routeResult(value);
      this.send('FINISHED', { result: ref, metrics, warnings }, payload);
    } catch (error) {
      if (value.kind === 'block') await env.blockManager.removeBlock(BlockId.taskResult(task.taskId)).catch(() => undefined);
      const state: TaskState = failureState(error, context);
      this.send(state, { failure: describeFailure(error, context), metrics: this.metricsSoFar(), warnings });
    }
  }

  /**
   * Direct when small (the bytes go in the status update), indirect through the block manager
   * when larger, dropped when larger than driver.maxResultSize. A result of batches is a block
   * already (stored as it was computed); it is read back when direct and removed when dropped.
   */
  private async routeResult(value: TaskValue): Promise<{ ref: TaskResultRef; payload?: Uint8Array }> {
    const { config, blockManager } = this.env;
    const size = value.kind === 'bytes' ? value.bytes.size : value.size;
    const maxResultSize = config['driver.maxResultSize'];
    const maxDirect = Math.min(config['task.maxDirectResultSize'], config['rpc.message.maxSize']);
    const blockId = BlockId.taskResult(this.task.taskId);
    if (maxResultSize > 0 && size > maxResultSize) {
      this.env.warn(`Finished task ${this.task.partition}.${this.task.attemptNumber} in stage ${this.task.stageId} (TID ${this.task.taskId}). Result is larger than maxResultSize (${size} > ${maxResultSize}), dropping it.`);
      if (value.kind === 'block') await blockManager.removeBlock(blockId);
      return { ref: { kind: 'indirect', blockId: blockId.name, size, stored: false } };
    }
    if (size > maxDirect) {
      const stored = value.kind === 'block' || (await blockManager.putBytes(blockId, value.bytes, StorageLevel.OFF_HEAP, RESULT_PUT));
      return { ref: { kind: 'indirect', blockId: blockId.name, size, stored } };
    }
    let bytes = value.kind === 'bytes' ? value.bytes : undefined;
    if (value.kind === 'block') {
      bytes = await blockManager.getLocalBytes(blockId);
      await blockManager.removeBlock(blockId);
      if (!bytes) throw new InternalError('INVARIANT_VIOLATED', `task result ${blockId.name} vanished before it was sent`);
    }
    return { ref: { kind: 'direct', size }, payload: bytes!.toUint8Array() };
  }

  /** The task's value: a MapStatus, a count or a sample serialized, or the batches stored as
   *  the task's result block. */
  private async runBody(context: TaskContext): Promise<TaskValue> {
    const { task, env } = this;
    if (task.shuffleWrite) {
      const write = task.shuffleWrite;
      const batches = computeConsumed(task.root, context);
      let sizes: readonly number[];
      const numPartitions = write.partitioner.kind === 'single' ? 1 : write.partitioner.numPartitions;
      // The input is ended whatever happens (writeMapOutput may fail before it reads it).
      try {
        const first = await batches.next();
        if (first.done) {
          sizes = await env.resolver.writeMetadataFileAndCommit(write.shuffleId, task.taskId, new Array<number>(numPartitions).fill(0), new Array<number>(numPartitions).fill(0), null);
        } else {
          const schema = first.value.schema;
          const { partitioner, bounds } = nativePartitioner(write.partitioner, schema, task.partition);
          async function* all(): AsyncGenerator<RecordBatch> {
            yield first.value as RecordBatch;
            yield* batches;
          }
          const { lengths, metrics: writeMetrics } = await writeMapOutput(
            context.taskMemoryManager,
            env.diskBlockManager,
            env.resolver,
            {
              shuffleId: write.shuffleId,
              mapId: task.taskId,
              numPartitions,
              schema,
              partitioner,
              ...(bounds ? { bounds } : {}),
              compression: env.config['shuffle.compress'] ? 'lz4' : 'none',
              kind: chooseShuffleWriter({ mapSideCombine: false, numPartitions }, write.bypassMergeThreshold),
              fileBufferBytes: env.config['shuffle.file.buffer'],
            },
            all(),
          );
          sizes = lengths;
          context.shuffleWrite = writeMetrics;
          context.operators.push({ metrics: writeMetrics });
        }
      } finally {
        await batches.return(undefined);
      }
      return { kind: 'bytes', bytes: jsonBytes({ executorId: env.executorId, mapId: task.taskId, mapIndex: task.partition, sizes }) };
    }
    const result = task.result ?? { kind: 'batches' };
    if (result.kind === 'count') {
      let rows = 0;
      for await (const batch of computeConsumed(task.root, context)) rows += batch.numRows;
      return { kind: 'bytes', bytes: jsonBytes(rows) };
    }
    if (result.kind === 'sample') return { kind: 'bytes', bytes: await sampleRows(compute(task.root, context), result.sampleSize, seededRandom(result.seed)) };
    // Stored as the batches come, as a block of the task's (Spark serializes the whole result
    // first, outside its memory manager): its bytes are off-heap storage memory, unrolled under
    // the task's unroll memory, and go to disk when memory is short, so a result larger than
    // the budget cannot grow the process. Serialized without compression.
    const id = BlockId.taskResult(task.taskId);
    const batches = computeConsumed(task.root, context);
    try {
      await env.blockManager.putIterator(id, batches, StorageLevel.OFF_HEAP, { ...RESULT_PUT, task: task.taskId, compression: 'none' });
    } finally {
      await batches.return(undefined);
    }
    checkKilled(context);
    // Serialized without compression, the block has the same size in memory and on disk.
    const status = env.blockManager.getStatus(id);
    if (!status) throw new InternalError('INVARIANT_VIOLATED', `task result ${id.name} was not stored`);
    return { kind: 'block', size: Math.max(status.memSize, status.diskSize) };
  }
}

/**
 * How task results are put: not reported to the driver's block list, and not borrowing
 * execution memory. A result unrolls while the task's own operators (and the other slots'
 * tasks) still need execution memory, which could never take unroll memory back; so results
 * use the storage pool's free memory, may evict other blocks to disk, and go to disk beyond.
 */
const RESULT_PUT = { tellMaster: false, borrowExecution: false } as const;

/** What a task body produced: serialized bytes, or its result block's size. */
type TaskValue = { readonly kind: 'bytes'; readonly bytes: ChunkedBytes } | { readonly kind: 'block'; readonly size: number };

function jsonBytes(value: unknown): ChunkedBytes {
  return new ChunkedBytes([Buffer.from(JSON.stringify(value))]);
}

function failureState(error: unknown, context: TaskContext): TaskState {
  if (findFetchFailure(error)) return 'FAILED';
  if (error instanceof TaskKilledError || context.killReason !== undefined) return 'KILLED';
  return 'FAILED';
}

function findFetchFailure(error: unknown): FetchFailedError | undefined {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof FetchFailedError) return e;
  return undefined;
}

function describeFailure(error: unknown, context: TaskContext): TaskFailure {
  const fetch = findFetchFailure(error);
  if (fetch) {
    return { kind: 'fetchFailed', executorId: fetch.executorId, shuffleId: fetch.shuffleId, mapId: fetch.mapId, mapIndex: fetch.mapIndex, reduceId: fetch.reduceId, message: fetch.message };
  }
  if (error instanceof TaskKilledError) return { kind: 'killed', reason: error.reason };
  if (context.killReason !== undefined) return { kind: 'killed', reason: context.killReason };
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'exception', name: e.name, code: e instanceof TungstenError ? e.code : undefined, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}

/**
 * A reservoir sample of `k` rows (Algorithm L: random numbers only for the rows it keeps), as
 * an 8-byte row count followed by the sampled rows as an IPC stream of one batch.
 *
 * The reservoir holds the sampled values column by column, copied out of the input batches
 * (binary values too, which apache-arrow returns as views):
 * a slice per row would keep each input batch's buffers alive (330 MB on S2 for 240 rows), and
 * a reservoir of thousands of one-row batches costs more to serialize than the scan (6,000
 * rows per input partition with 200 output partitions).
 */
async function sampleRows(batches: AsyncIterable<RecordBatch>, k: number, random: () => number): Promise<ChunkedBytes> {
  let schema: Schema | undefined;
  let columns: unknown[][] = [];
  let size = 0;
  let seen = 0;
  let w = Math.exp(Math.log(random()) / k);
  let next = k + Math.floor(Math.log(random()) / Math.log(1 - w));
  for await (const batch of batches) {
    if (!schema) {
      schema = batch.schema;
      columns = schema.fields.map(() => []);
    }
    const vectors = schema.fields.map((_, c) => batch.getChildAt(c)!);
    const keep = (slot: number, row: number): void => {
      for (let c = 0; c < vectors.length; c++) {
        // Binary values come as views of the batch's buffer: copied, not to keep it alive.
        const value: unknown = vectors[c]!.get(row);
        columns[c]![slot] = value instanceof Uint8Array ? value.slice() : value;
      }
    };
    for (let i = 0; i < batch.numRows && size < k; i++) keep(size++, i);
    while (next < seen + batch.numRows) {
      if (next >= k) {
        keep(Math.floor(random() * k), next - seen);
        w *= Math.exp(Math.log(random()) / k);
      }
      next += Math.floor(Math.log(random()) / Math.log(1 - w)) + 1;
    }
    seen += batch.numRows;
  }
  const header = Buffer.alloc(8);
  header.writeBigInt64BE(BigInt(seen));
  if (!schema || size === 0) return new ChunkedBytes([header]);
  const fields = schema.fields;
  const children = fields.map((field, c) => vectorFromArray(columns[c]!, field.type).data[0]!);
  const sample = new RecordBatch(schema, makeData({ type: new Struct(fields), length: size, nullCount: 0, children }));
  return new ChunkedBytes([header, ...serializeBatches([sample], 'none', 1 << 20).chunks]);
}

/** The native partitioner of a descriptor, for batches of `schema`. */
function nativePartitioner(descriptor: PartitionerDescriptor, schema: Schema, mapIndex: number): { partitioner: NativePartitioner; bounds?: RecordBatch } {
  switch (descriptor.kind) {
    case 'single':
      return { partitioner: { kind: PartitionerKind.SINGLE, numPartitions: 1 } };
    case 'roundRobin':
      // Spark starts each map task at a position drawn from its index.
      return { partitioner: { kind: PartitionerKind.ROUND_ROBIN, numPartitions: descriptor.numPartitions, roundRobinStart: Math.floor(seededRandom(mapIndex)() * descriptor.numPartitions) } };
    case 'hash':
      return { partitioner: { kind: PartitionerKind.HASH, numPartitions: descriptor.numPartitions, hashColumns: descriptor.columns.map((c) => fieldIndex(schema.fields, c)) } };
    case 'range': {
      // '' (an empty input's sample): no row will be partitioned, so no bounds are needed.
      const bounds = descriptor.bounds ? [...RecordBatchReader.from(Buffer.from(descriptor.bounds, 'base64'))][0] : undefined;
      return {
        partitioner: {
          kind: PartitionerKind.RANGE,
          numPartitions: descriptor.numPartitions,
          sortKeys: descriptor.keys.map((key) => ({ column: fieldIndex(schema.fields, key.column), descending: key.descending ?? false, nullsFirst: key.nullsFirst ?? !(key.descending ?? false) })),
        },
        ...(bounds ? { bounds } : {}),
      };
    }
  }
}

export class Executor {
  private readonly running = new Map<number, { runner: TaskRunner; done: Promise<void> }>();
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly env: ExecutorEnv) {}

  /** Registers with the driver and starts heartbeats. */
  start(): void {
    this.env.sendToDriver(encodeMessage({ type: 'RegisterExecutor', executorId: this.env.executorId, cores: this.env.cores }));
    const interval = this.env.config['executor.heartbeatInterval'];
    const beat = (): void => {
      this.sendHeartbeat();
      this.heartbeat = setTimeout(beat, interval);
      this.heartbeat.unref();
    };
    // The first beat after interval + random(0, interval), as Spark's.
    this.heartbeat = setTimeout(beat, interval + Math.random() * interval);
    this.heartbeat.unref();
  }

  /** The running tasks' metrics and the memory pools. A callback that threw would end the
   *  process: a beat that cannot be made is skipped and said, as a missed heartbeat. */
  private sendHeartbeat(): void {
    try {
      const tasks = [...this.running.entries()].map(([taskId, { runner }]) => ({ taskId, metrics: runner.metricsSoFar() }));
      this.env.sendToDriver(encodeMessage({ type: 'Heartbeat', executorId: this.env.executorId, memory: this.env.memoryManager.snapshot(), tasks }));
    } catch (error) {
      this.env.warn(`a heartbeat could not be sent: ${(error as Error).message}`);
    }
  }

  receive(bytes: Uint8Array): void {
    const { message } = decodeMessage(bytes);
    if (message.type === 'LaunchTask') {
      if (this.stopped) return;
      const runner = new TaskRunner(this.env, message.task);
      // run() reports its own failures to the driver; it never rejects.
      // A beat at every task's end too (Spark reports executor metrics with each TaskEnd), so a
      // job shorter than the heartbeat interval still shows its memory at task boundaries.
      const done = runner.run().finally(() => {
        this.running.delete(message.task.taskId);
        if (!this.stopped) this.sendHeartbeat();
      });
      this.running.set(message.task.taskId, { runner, done });
    } else if (message.type === 'KillTask') {
      // Unknown tasks are ignored (§4.3).
      this.running.get(message.taskId)?.runner.kill(message.reason);
    }
  }

  /** Kills every running task and waits until they have released everything. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearTimeout(this.heartbeat);
    const running = [...this.running.values()];
    for (const { runner } of running) runner.kill('the executor is stopping');
    await Promise.allSettled(running.map(({ done }) => done));
  }
}

