/**
 * What a report shows, read from scheduler events (an event log's lines, or events a command
 * collected as they came): the memory pools over time, the tasks with their slots, the stages
 * with their totals, and spills placed on the same time axis.
 *
 * Spill times: a TaskEnd says how many times a task spilled, not when. The executor's
 * heartbeats (ExecutorMetricsUpdate) carry each running task's metrics, so a spill is placed at
 * the first heartbeat that shows the task's spill count grown, and any left at the task's end.
 * The placement is as fine as executor.heartbeatInterval (the CLI beats every 250 ms).
 */
import type { MemorySnapshot } from '../memory/MemoryManager.js';
import type { SchedulerEvent } from '../scheduler/ListenerBus.js';
import { addTaskMetrics, emptyTaskMetrics, type TaskMetrics } from '../scheduler/messages.js';

export interface MemorySample {
  /** Milliseconds from the first event. */
  readonly t: number;
  readonly memory: MemorySnapshot;
}

export interface TaskSpan {
  readonly taskId: number;
  readonly stageId: number;
  readonly stageAttempt: number;
  readonly executorId: string;
  readonly slot: number;
  readonly start: number;
  readonly end: number;
  readonly succeeded: boolean;
  readonly metrics: TaskMetrics;
}

export interface SpillMark {
  readonly t: number;
  readonly taskId: number;
  readonly executorId: string;
  readonly stageId: number;
  readonly slot: number;
  readonly count: number;
}

export interface StageSummary {
  readonly stageId: number;
  readonly attempt: number;
  readonly name: string;
  readonly numTasks: number;
  readonly start: number;
  readonly end: number | undefined;
  readonly failureReason: string | undefined;
  readonly tasks: number;
  readonly failedTasks: number;
  /** The stage's tasks' metrics added up (addTaskMetrics: sums, the peak of peak memory). */
  readonly totals: TaskMetrics;
}

export interface ReportModel {
  readonly startTime: number;
  readonly durationMs: number;
  readonly cores: number | undefined;
  readonly config: Record<string, unknown>;
  readonly jobs: ReadonlyArray<{ readonly jobId: number; readonly description: string; readonly start: number; readonly end: number | undefined; readonly result: string | undefined }>;
  readonly stages: readonly StageSummary[];
  readonly tasks: readonly TaskSpan[];
  readonly memory: readonly MemorySample[];
  readonly spills: readonly SpillMark[];
}

/** Reads the lines of a JSON-lines event log; a line that is not an event is an error naming it. */
export function parseEventLog(text: string, source = 'the event log'): SchedulerEvent[] {
  const events: SchedulerEvent[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      throw new SyntaxError(`${source}, line ${index + 1}: not JSON (${line.slice(0, 60)})`);
    }
    if (typeof event !== 'object' || event === null || typeof (event as { Event?: unknown }).Event !== 'string' || typeof (event as { time?: unknown }).time !== 'number') {
      throw new SyntaxError(`${source}, line ${index + 1}: not a scheduler event (it needs "Event" and "time")`);
    }
    events.push(event as SchedulerEvent);
  });
  return events;
}

export function buildReportModel(events: readonly SchedulerEvent[]): ReportModel {
  // A loop, not Math.min(...times): a long job's log has more events than a call has arguments.
  let startTime = events.length > 0 ? Infinity : 0;
  let endTime = 0;
  for (const event of events) {
    startTime = Math.min(startTime, event.time);
    endTime = Math.max(endTime, event.time);
  }
  const rel = (time: number): number => time - startTime;
  let cores: number | undefined;
  let config: Record<string, unknown> = {};
  const jobs = new Map<number, { jobId: number; description: string; start: number; end: number | undefined; result: string | undefined }>();
  const stages = new Map<string, { stageId: number; attempt: number; name: string; numTasks: number; start: number; end: number | undefined; failureReason: string | undefined }>();
  const tasks: TaskSpan[] = [];
  const memory: MemorySample[] = [];
  const spills: SpillMark[] = [];
  const running = new Map<number, { stageId: number; executorId: string; slot: number; spillsSeen: number }>();
  for (const event of events) {
    switch (event.Event) {
      case 'ApplicationStart':
        cores = event.cores;
        config = event.config;
        break;
      case 'JobStart':
        jobs.set(event.jobId, { jobId: event.jobId, description: event.description, start: rel(event.time), end: undefined, result: undefined });
        break;
      case 'JobEnd': {
        const job = jobs.get(event.jobId);
        if (job) Object.assign(job, { end: rel(event.time), result: event.result });
        break;
      }
      case 'StageSubmitted':
        stages.set(`${event.stageId}.${event.attemptId}`, { stageId: event.stageId, attempt: event.attemptId, name: event.name, numTasks: event.numTasks, start: rel(event.time), end: undefined, failureReason: undefined });
        break;
      case 'StageCompleted': {
        const stage = stages.get(`${event.stageId}.${event.attemptId}`);
        if (stage) Object.assign(stage, { end: rel(event.time), failureReason: event.failureReason });
        break;
      }
      case 'TaskStart':
        running.set(event.taskInfo.taskId, { stageId: event.stageId, executorId: event.taskInfo.executorId, slot: event.taskInfo.slot, spillsSeen: 0 });
        break;
      case 'ExecutorMetricsUpdate':
        memory.push({ t: rel(event.time), memory: event.memory });
        for (const { taskId, metrics } of event.tasks) {
          const task = running.get(taskId);
          if (task && metrics.spillCount > task.spillsSeen) {
            spills.push({ t: rel(event.time), taskId, executorId: task.executorId, stageId: task.stageId, slot: task.slot, count: metrics.spillCount - task.spillsSeen });
            task.spillsSeen = metrics.spillCount;
          }
        }
        break;
      case 'TaskEnd': {
        const info = event.taskInfo;
        const seen = running.get(info.taskId)?.spillsSeen ?? 0;
        if (event.metrics.spillCount > seen) {
          spills.push({ t: rel(event.time), taskId: info.taskId, executorId: info.executorId, stageId: event.stageId, slot: info.slot, count: event.metrics.spillCount - seen });
        }
        running.delete(info.taskId);
        tasks.push({
          taskId: info.taskId,
          stageId: event.stageId,
          stageAttempt: event.stageAttemptId,
          executorId: info.executorId,
          slot: info.slot,
          start: rel(info.launchTime),
          end: rel(info.finishTime ?? event.time),
          succeeded: event.reason === 'Success',
          metrics: event.metrics,
        });
        break;
      }
      default:
        break;
    }
  }
  const stageSummaries = [...stages.values()].map((stage): StageSummary => {
    const own = tasks.filter((t) => t.stageId === stage.stageId && t.stageAttempt === stage.attempt);
    return {
      ...stage,
      tasks: own.length,
      failedTasks: own.filter((t) => !t.succeeded).length,
      totals: own.reduce((totals, t) => addTaskMetrics(totals, t.metrics), emptyTaskMetrics()),
    };
  });
  const durationMs = endTime - startTime;
  return { startTime, durationMs, cores, config, jobs: [...jobs.values()], stages: stageSummaries, tasks, memory, spills };
}
