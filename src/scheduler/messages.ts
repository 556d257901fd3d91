/**
 * What the driver and its executors say to each other, as bytes: nothing in the scheduler may
 * assume an executor shares its memory (they run in this process now, in others later).
 *
 * A message is a 4-byte little-endian header length, a JSON header, and an optional binary
 * payload (a task's direct result), so results are not base64'd.
 */
import type { MemorySnapshot } from '../memory/MemoryManager.js';
import type { PlanNode, PartitionerDescriptor } from '../plan/PlanNode.js';
import type { ShuffleBlockRef } from '../shuffle/MapOutputTracker.js';

export type TaskState = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

/** What a task does, named by data only (its plan fragment, its inputs). */
export interface TaskDescription {
  readonly taskId: number;
  readonly attemptNumber: number;
  readonly jobId: number;
  readonly stageId: number;
  readonly stageAttemptId: number;
  /** The partition of the stage's RDD this task computes. */
  readonly partition: number;
  readonly root: PlanNode;
  /** A shuffle map task: the shuffle its output goes to. */
  readonly shuffleWrite?: { readonly shuffleId: number; readonly partitioner: PartitionerDescriptor; readonly bypassMergeThreshold: number };
  /** A result task: what it returns. */
  readonly result?:
    | { readonly kind: 'batches' | 'count' }
    | {
        readonly kind: 'sample';
        readonly sampleSize: number;
        readonly seed: number;
        /** Sources that can seek read at most this many record batches of their split, evenly
         *  spread over it (plan/sources.ts); absent: every batch. */
        readonly batchesPerSplit?: number;
      };
  /** The blocks of this partition of each shuffle the fragment reads, by shuffle id. */
  readonly shuffleBlocks: Readonly<Record<number, readonly ShuffleBlockRef[]>>;
}

/** Per-task metrics (Spark's TaskMetrics, the parts this engine has). */
export interface TaskMetrics {
  executorRunTimeMs: number;
  /**
   * CPU time of the task's native work, on the addon's worker threads, by their thread CPU
   * clocks (sorting, aggregating, shuffle sorting and writing, spilling, merging, decoding shuffle
   * segments and IPC files). The task's JavaScript (apache-arrow's decoding and encoding where
   * it is still used, file I/O calls) shares one event loop with every other task and is not
   * measurable per task, so it is not included: run time minus this is not idle time.
   */
  executorCpuTimeMs: number;
  peakExecutionMemory: number;
  /** Bytes of memory freed by spilling (logical). */
  memoryBytesSpilled: number;
  /** Bytes written to spill files. */
  diskBytesSpilled: number;
  spillCount: number;
  /** Passes that merged spill files into fewer before the final merge (sorts, aggregations). */
  mergePasses: number;
  inputRecords: number;
  shuffleWriteBytes: number;
  shuffleWriteRecords: number;
  shuffleWriteTimeMs: number;
  shuffleReadBytes: number;
  shuffleReadRecords: number;
  shuffleFetchWaitTimeMs: number;
  shuffleReadTimeMs: number;
  resultSize: number;
}

export function emptyTaskMetrics(): TaskMetrics {
  return {
    executorRunTimeMs: 0,
    executorCpuTimeMs: 0,
    peakExecutionMemory: 0,
    memoryBytesSpilled: 0,
    diskBytesSpilled: 0,
    spillCount: 0,
    mergePasses: 0,
    inputRecords: 0,
    shuffleWriteBytes: 0,
    shuffleWriteRecords: 0,
    shuffleWriteTimeMs: 0,
    shuffleReadBytes: 0,
    shuffleReadRecords: 0,
    shuffleFetchWaitTimeMs: 0,
    shuffleReadTimeMs: 0,
    resultSize: 0,
  };
}

/** Adds `from` into `into`: sums, but the peak of peakExecutionMemory. Job totals, stage totals
 *  and reports all add this way (an event log from before CPU time was measured has null). */
export function addTaskMetrics(into: TaskMetrics, from: TaskMetrics): TaskMetrics {
  for (const key of Object.keys(into) as (keyof TaskMetrics)[]) {
    if (key === 'peakExecutionMemory') into.peakExecutionMemory = Math.max(into.peakExecutionMemory, from.peakExecutionMemory);
    else (into[key] as number) += (from[key] as number | null) ?? 0;
  }
  return into;
}

/** Why a task failed, as the driver needs to know it. */
export type TaskFailure =
  | { readonly kind: 'exception'; readonly name: string; readonly code: string | undefined; readonly message: string; readonly stack?: string }
  | { readonly kind: 'fetchFailed'; readonly executorId: string; readonly shuffleId: number; readonly mapId: number; readonly mapIndex: number; readonly reduceId: number; readonly message: string }
  | { readonly kind: 'killed'; readonly reason: string };

/** A finished task's value: inline (direct) or a block to fetch from the executor (indirect). */
export type TaskResultRef =
  | { readonly kind: 'direct'; readonly size: number }
  | { readonly kind: 'indirect'; readonly blockId: string; readonly size: number; readonly stored: boolean };

export type Message =
  | { readonly type: 'RegisterExecutor'; readonly executorId: string; readonly cores: number }
  | { readonly type: 'LaunchTask'; readonly task: TaskDescription }
  | { readonly type: 'KillTask'; readonly taskId: number; readonly reason: string }
  | {
      readonly type: 'StatusUpdate';
      readonly executorId: string;
      readonly taskId: number;
      readonly state: TaskState;
      readonly result?: TaskResultRef;
      readonly failure?: TaskFailure;
      readonly metrics?: TaskMetrics;
      /** Warnings the executor logged for the task (leaks). */
      readonly warnings?: readonly string[];
    }
  | {
      readonly type: 'Heartbeat';
      readonly executorId: string;
      readonly memory: MemorySnapshot;
      readonly tasks: ReadonlyArray<{ taskId: number; metrics: TaskMetrics }>;
    };

export function encodeMessage(message: Message, payload?: Uint8Array): Uint8Array {
  const header = Buffer.from(JSON.stringify(message));
  const out = Buffer.allocUnsafeSlow(4 + header.byteLength + (payload?.byteLength ?? 0));
  out.writeUInt32LE(header.byteLength, 0);
  header.copy(out, 4);
  if (payload) out.set(payload, 4 + header.byteLength);
  return out;
}

export function decodeMessage(bytes: Uint8Array): { message: Message; payload: Uint8Array } {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.readUInt32LE(0);
  return {
    message: JSON.parse(view.subarray(4, 4 + length).toString('utf8')) as Message,
    payload: bytes.subarray(4 + length),
  };
}

/** One side of the wire. */
export interface Endpoint {
  receive(bytes: Uint8Array): void;
}

/**
 * Carries messages between the driver and in-process executors, always as bytes and always
 * asynchronously (never within the sender's call), as a network would.
 */
export class LocalExecutorBackend {
  private driver: Endpoint | undefined;
  private readonly executors = new Map<string, Endpoint>();

  setDriver(driver: Endpoint): void {
    this.driver = driver;
  }

  addExecutor(executorId: string, endpoint: Endpoint): void {
    this.executors.set(executorId, endpoint);
  }

  removeExecutor(executorId: string): void {
    this.executors.delete(executorId);
  }

  sendToExecutor(executorId: string, bytes: Uint8Array): void {
    const endpoint = this.executors.get(executorId);
    if (endpoint) setImmediate(() => endpoint.receive(bytes));
  }

  sendToDriver(bytes: Uint8Array): void {
    const driver = this.driver;
    if (driver) setImmediate(() => driver.receive(bytes));
  }
}
