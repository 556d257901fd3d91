/**
 * The driver's side of task execution: Spark's TaskSchedulerImpl and TaskSetManager.
 *
 * - Executors register with their cores; each free core is an offer. Offers go to task sets in
 *   FIFO order (job id, then stage id), one pending task at a time.
 * - A task set runs one attempt of a stage over some partitions. A task that fails is
 *   re-queued until it has failed `task.maxFailures` times; then the set is aborted with the
 *   last error. A fetch failure ends the set at once (the DAG scheduler re-runs the map stage).
 *   A KILLED task is not retried.
 * - Result stages add up their tasks' result sizes; past driver.maxResultSize the set is
 *   aborted with Spark's message (shuffle map tasks are exempt).
 * - Everything an executor says arrives as bytes (messages.ts), and all the driver sends it is
 *   bytes: LaunchTask with the task's description, KillTask.
 * - When a set ends (success, abort, fetch failure, cancel), its running tasks are killed and
 *   it settles only once every one of them has reported its end, so that a finished action
 *   never leaves a task holding memory behind it.
 */
import { formatBytes } from '../config/size.js';
import { JobCancelledError, ResultTooLargeError } from '../errors.js';
import { decodeMessage, encodeMessage, type Message, type TaskDescription, type TaskFailure, type TaskMetrics, type TaskResultRef } from './messages.js';
import type { ListenerBus, TaskInfo } from './ListenerBus.js';

export type TaskSetOutcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'fetchFailed'; readonly failure: Extract<TaskFailure, { kind: 'fetchFailed' }> }
  | { readonly kind: 'aborted'; readonly error: Error };

/** A finished task's value as the driver holds it: inline bytes, or a block to fetch once. */
export interface TaskResultHandle {
  readonly partition: number;
  readonly executorId: string;
  readonly ref: TaskResultRef;
  readonly payload: Uint8Array;
}

export interface TaskSetSpec {
  readonly jobId: number;
  readonly stageId: number;
  readonly stageAttemptId: number;
  readonly partitions: readonly number[];
  readonly isResultStage: boolean;
  /** The description of a task of `partition` (ids and attempt filled in by the scheduler). */
  readonly describe: (partition: number) => Omit<TaskDescription, 'taskId' | 'attemptNumber'>;
  /** A task succeeded; a rejection aborts the set with that error. */
  readonly onSuccess: (result: TaskResultHandle, metrics: TaskMetrics) => Promise<void> | void;
}

class TaskSetManager {
  readonly pending: number[];
  readonly failures = new Map<number, number>();
  readonly running = new Map<number, number>(); // taskId → partition
  readonly done = new Set<number>();
  zombie = false;
  outcome: TaskSetOutcome | undefined;
  totalResultSize = 0;
  settle!: (outcome: TaskSetOutcome) => void;
  readonly settled: Promise<TaskSetOutcome>;

  constructor(readonly spec: TaskSetSpec) {
    this.pending = [...spec.partitions];
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  get name(): string {
    return `${this.spec.stageId}.${this.spec.stageAttemptId}`;
  }
}

export class TaskScheduler {
  /** Each executor's slots, one per core: the task in it, if any (the task timeline's rows). */
  private readonly executors = new Map<string, (number | undefined)[]>();
  private readonly taskSets: TaskSetManager[] = [];
  private readonly tasks = new Map<number, { manager: TaskSetManager; partition: number; info: TaskInfo }>();
  private nextTaskId = 0;
  private readonly registered: Array<() => void> = [];

  constructor(
    private readonly bus: ListenerBus,
    private readonly send: (executorId: string, bytes: Uint8Array) => void,
    private readonly maxFailures: number,
    private readonly maxResultSize: number,
  ) {}

  /** Resolves once an executor has registered. */
  whenExecutorRegistered(): Promise<void> {
    if (this.executors.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.registered.push(resolve));
  }

  /** Runs a task set; resolves with how it ended, after its last task has ended. */
  submitTasks(spec: TaskSetSpec): Promise<TaskSetOutcome> {
    const manager = new TaskSetManager(spec);
    if (spec.partitions.length === 0) {
      manager.settle({ kind: 'success' });
      return manager.settled;
    }
    this.taskSets.push(manager);
    this.taskSets.sort((a, b) => a.spec.jobId - b.spec.jobId || a.spec.stageId - b.spec.stageId);
    this.reviveOffers();
    return manager.settled;
  }

  /** Ends every task set of a job: pending tasks never start, running ones are killed. */
  cancelJob(jobId: number, reason: string): void {
    for (const manager of this.taskSets.filter((m) => m.spec.jobId === jobId)) {
      this.finish(manager, { kind: 'aborted', error: new JobCancelledError(`Job ${jobId} cancelled: ${reason}`) }, reason);
    }
  }

  /** The driver's endpoint: what executors send. */
  receive(bytes: Uint8Array): void {
    const { message, payload } = decodeMessage(bytes);
    switch (message.type) {
      case 'RegisterExecutor':
        this.executors.set(message.executorId, new Array<number | undefined>(message.cores).fill(undefined));
        this.bus.post({ Event: 'ExecutorAdded', time: Date.now(), executorId: message.executorId, cores: message.cores });
        for (const resolve of this.registered.splice(0)) resolve();
        this.reviveOffers();
        return;
      case 'Heartbeat':
        this.bus.post({ Event: 'ExecutorMetricsUpdate', time: Date.now(), executorId: message.executorId, memory: message.memory, tasks: message.tasks });
        return;
      case 'StatusUpdate':
        void this.statusUpdate(message, payload);
        return;
      default:
        return;
    }
  }

  private reviveOffers(): void {
    for (const [executorId, slots] of this.executors) {
      for (let slot = 0; slot < slots.length; slot++) {
        if (slots[slot] !== undefined) continue;
        const manager = this.taskSets.find((m) => !m.zombie && m.pending.length > 0);
        if (!manager) return;
        const partition = manager.pending.shift()!;
        this.launch(manager, partition, executorId, slots, slot);
      }
    }
  }

  private launch(manager: TaskSetManager, partition: number, executorId: string, slots: (number | undefined)[], slot: number): void {
    const taskId = this.nextTaskId++;
    const attemptNumber = manager.failures.get(partition) ?? 0;
    const description: TaskDescription = { ...manager.spec.describe(partition), taskId, attemptNumber };
    const info: TaskInfo = { taskId, index: partition, attempt: attemptNumber, executorId, slot, launchTime: Date.now() };
    slots[slot] = taskId;
    manager.running.set(taskId, partition);
    this.tasks.set(taskId, { manager, partition, info });
    this.bus.post({ Event: 'TaskStart', time: info.launchTime, stageId: manager.spec.stageId, stageAttemptId: manager.spec.stageAttemptId, taskInfo: info });
    this.send(executorId, encodeMessage({ type: 'LaunchTask', task: description }));
  }

  private async statusUpdate(message: Extract<Message, { type: 'StatusUpdate' }>, payload: Uint8Array): Promise<void> {
    if (message.state === 'RUNNING') return;
    const entry = this.tasks.get(message.taskId);
    if (!entry) return;
    const { manager, partition, info } = entry;
    this.tasks.delete(message.taskId);
    manager.running.delete(message.taskId);
    const slots = this.executors.get(info.executorId);
    if (slots) slots[info.slot] = undefined;
    info.finishTime = Date.now();
    const metrics = message.metrics!;
    const taskType = manager.spec.isResultStage ? 'ResultTask' : 'ShuffleMapTask';
    const post = (reason: 'Success' | TaskFailure): void =>
      this.bus.post({ Event: 'TaskEnd', time: info.finishTime!, stageId: manager.spec.stageId, stageAttemptId: manager.spec.stageAttemptId, taskType, reason, taskInfo: info, metrics });

    if (message.state === 'FINISHED') {
      post('Success');
      if (!manager.zombie && !manager.done.has(partition)) {
        try {
          const ref = message.result!;
          if (manager.spec.isResultStage) {
            manager.totalResultSize += ref.size;
            const max = this.maxResultSize;
            if ((ref.kind === 'indirect' && !ref.stored) || (max > 0 && manager.totalResultSize > max)) {
              throw new ResultTooLargeError(
                `Total size of serialized results of ${manager.done.size + 1} tasks (${formatBytes(manager.totalResultSize)}) is bigger than spark.driver.maxResultSize (${formatBytes(max)})`,
              );
            }
          }
          manager.done.add(partition);
          await manager.spec.onSuccess({ partition, executorId: info.executorId, ref, payload }, metrics);
          if (manager.done.size === manager.spec.partitions.length) this.finish(manager, { kind: 'success' }, 'the stage finished');
        } catch (error) {
          this.finish(manager, { kind: 'aborted', error: error as Error }, 'the stage was aborted');
        }
      }
    } else {
      const failure = message.failure!;
      post(failure);
      if (!manager.zombie) {
        if (failure.kind === 'fetchFailed') {
          this.finish(manager, { kind: 'fetchFailed', failure }, 'a fetch failed in this stage');
        } else if (failure.kind === 'killed') {
          this.finish(manager, { kind: 'aborted', error: new JobCancelledError(`Task ${message.taskId} was killed: ${failure.reason}`) }, failure.reason);
        } else {
          const failures = (manager.failures.get(partition) ?? 0) + 1;
          manager.failures.set(partition, failures);
          if (failures >= this.maxFailures) {
            const cause = remoteError(failure);
            this.finish(
              manager,
              {
                kind: 'aborted',
                error: Object.assign(
                  new Error(`Task ${partition} in stage ${manager.name} failed ${failures} times, most recent failure: ${failure.name}: ${failure.message}`),
                  { cause },
                ),
              },
              'a task failed too often',
            );
          } else {
            manager.pending.push(partition);
          }
        }
      }
    }
    this.settleIfIdle(manager);
    this.reviveOffers();
  }

  /** Marks a set finished with `outcome`, kills its running tasks; it settles when they end. */
  private finish(manager: TaskSetManager, outcome: TaskSetOutcome, reason: string): void {
    if (manager.zombie) return;
    manager.zombie = true;
    manager.outcome = outcome;
    manager.pending.length = 0;
    for (const taskId of manager.running.keys()) {
      const entry = this.tasks.get(taskId);
      if (entry) this.send(entry.info.executorId, encodeMessage({ type: 'KillTask', taskId, reason }));
    }
    this.settleIfIdle(manager);
  }

  private settleIfIdle(manager: TaskSetManager): void {
    if (!manager.zombie || manager.running.size > 0) return;
    const index = this.taskSets.indexOf(manager);
    if (index >= 0) this.taskSets.splice(index, 1);
    manager.settle(manager.outcome!);
  }
}

/** An executor's exception as an Error on the driver, keeping its name and code. */
function remoteError(failure: Extract<TaskFailure, { kind: 'exception' }>): Error {
  const error = new Error(failure.message);
  error.name = failure.name;
  if (failure.code !== undefined) Object.assign(error, { code: failure.code });
  if (failure.stack) error.stack = failure.stack;
  return error;
}

