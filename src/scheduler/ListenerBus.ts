/**
 * Spark-like scheduler events, delivered to listeners and, when the session has an event log
 * path, appended to a JSON-lines file (one event per line, `Event` naming its kind, as Spark's
 * event log does). Listeners run synchronously on the event loop; one that throws is reported
 * on stderr and stays registered, as Spark's bus does.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TaskFailure, TaskMetrics } from './messages.js';
import type { MemorySnapshot } from '../memory/MemoryManager.js';

export interface TaskInfo {
  readonly taskId: number;
  /** The partition index in its stage. */
  readonly index: number;
  readonly attempt: number;
  readonly executorId: string;
  /** The slot of the executor the task ran in (0 .. cores − 1): the task timeline's row. */
  readonly slot: number;
  readonly launchTime: number;
  finishTime?: number;
}

export type SchedulerEvent =
  | { Event: 'ApplicationStart'; time: number; cores: number; config: Record<string, unknown> }
  | { Event: 'ExecutorAdded'; time: number; executorId: string; cores: number }
  | { Event: 'JobStart'; time: number; jobId: number; stageIds: number[]; description: string }
  | { Event: 'JobEnd'; time: number; jobId: number; result: 'JobSucceeded' | 'JobFailed'; error?: string }
  | { Event: 'StageSubmitted'; time: number; stageId: number; attemptId: number; name: string; numTasks: number; parentIds: number[] }
  | { Event: 'StageCompleted'; time: number; stageId: number; attemptId: number; name: string; numTasks: number; failureReason?: string }
  | { Event: 'TaskStart'; time: number; stageId: number; stageAttemptId: number; taskInfo: TaskInfo }
  | {
      Event: 'TaskEnd';
      time: number;
      stageId: number;
      stageAttemptId: number;
      taskType: 'ShuffleMapTask' | 'ResultTask';
      reason: 'Success' | TaskFailure;
      taskInfo: TaskInfo;
      metrics: TaskMetrics;
    }
  | { Event: 'ExecutorMetricsUpdate'; time: number; executorId: string; memory: MemorySnapshot; tasks: ReadonlyArray<{ taskId: number; metrics: TaskMetrics }> }
  | { Event: 'ApplicationEnd'; time: number };

export type SchedulerListener = (event: SchedulerEvent) => void;

export class ListenerBus {
  private readonly listeners = new Set<SchedulerListener>();
  /** The event log, opened once (appending a line per event, synchronously: an event is on
   *  disk before the next one happens, in order, even if the process then dies). */
  private eventLog: number | undefined;

  constructor(eventLogPath?: string) {
    if (eventLogPath) {
      mkdirSync(dirname(eventLogPath), { recursive: true });
      this.eventLog = openSync(eventLogPath, 'a');
    }
  }

  /** Closes the event log; later events reach listeners only. */
  close(): void {
    if (this.eventLog !== undefined) closeSync(this.eventLog);
    this.eventLog = undefined;
  }

  addListener(listener: SchedulerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  post(event: SchedulerEvent): void {
    if (this.eventLog !== undefined) writeSync(this.eventLog, `${JSON.stringify(event)}\n`);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        process.stderr.write(`tungsten: a listener threw on ${event.Event}: ${(error as Error).message}\n`);
      }
    }
  }
}
