/**
 * The console progress display, like Spark's ConsoleProgressBar: one line per running stage
 * with tasks done/running/total, rows per second and bytes spilled so far. On a terminal the
 * lines are redrawn in place (cli-progress); elsewhere a plain line per stage every few seconds
 * and when a stage ends, so a log file stays readable. Everything goes to stderr.
 *
 * Rows and spills of running tasks come from heartbeats (ExecutorMetricsUpdate); finished
 * tasks' from their TaskEnd. Rows are the rows a task read: its input plus its shuffle reads.
 */
import cliProgress from 'cli-progress';
import { formatBytes } from '../config/size.js';
import type { SchedulerEvent } from '../scheduler/ListenerBus.js';
import type { TaskMetrics } from '../scheduler/messages.js';

interface StageProgress {
  readonly stageId: number;
  readonly name: string;
  readonly total: number;
  readonly started: number;
  done: number;
  running: Set<number>;
  finishedRows: number;
  finishedSpilled: number;
  live: Map<number, TaskMetrics>;
  bar?: cliProgress.SingleBar;
  lastLine: number;
}

const rowsOf = (m: TaskMetrics): number => m.inputRecords + m.shuffleReadRecords;

export class ConsoleProgress {
  private readonly stages = new Map<number, StageProgress>();
  private readonly multibar: cliProgress.MultiBar | undefined;
  private readonly taskStage = new Map<number, number>();

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainIntervalMs = 3000,
  ) {
    if (stream.isTTY) {
      this.multibar = new cliProgress.MultiBar(
        {
          stream,
          // Fits 80 columns (cli-progress cuts a line at the terminal's width): "Stage 12 map 3
          // [████░░░░░░░░░░░░] 120+2/200 | 2.99M rows/s | 5.4 MiB spilled" is 77 characters.
          format: '{label} [{bar}] {done}+{running}/{total} | {rate} rows/s | {spilled} spilled',
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          barsize: 16,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  /** The bus listener. */
  readonly onEvent = (event: SchedulerEvent): void => {
    switch (event.Event) {
      case 'StageSubmitted': {
        const stage: StageProgress = { stageId: event.stageId, name: event.name, total: event.numTasks, started: event.time, done: 0, running: new Set(), finishedRows: 0, finishedSpilled: 0, live: new Map(), lastLine: event.time };
        this.stages.set(event.stageId, stage);
        if (this.multibar) stage.bar = this.multibar.create(stage.total, 0, this.payload(stage, event.time));
        break;
      }
      case 'TaskStart':
        this.taskStage.set(event.taskInfo.taskId, event.stageId);
        this.stages.get(event.stageId)?.running.add(event.taskInfo.taskId);
        this.update(event.stageId, event.time);
        break;
      case 'TaskEnd': {
        const stage = this.stages.get(event.stageId);
        if (!stage) break;
        stage.running.delete(event.taskInfo.taskId);
        stage.live.delete(event.taskInfo.taskId);
        if (event.reason === 'Success') stage.done++;
        stage.finishedRows += rowsOf(event.metrics);
        stage.finishedSpilled += event.metrics.diskBytesSpilled;
        this.update(event.stageId, event.time);
        break;
      }
      case 'ExecutorMetricsUpdate':
        for (const { taskId, metrics } of event.tasks) {
          const stageId = this.taskStage.get(taskId);
          const stage = stageId === undefined ? undefined : this.stages.get(stageId);
          if (stage?.running.has(taskId)) stage.live.set(taskId, metrics);
        }
        for (const stage of this.stages.values()) this.update(stage.stageId, event.time);
        break;
      case 'StageCompleted': {
        const stage = this.stages.get(event.stageId);
        if (!stage) break;
        this.update(event.stageId, event.time, true);
        this.stages.delete(event.stageId);
        break;
      }
      default:
        break;
    }
  };

  /** Stops redrawing (the terminal's cursor comes back). */
  stop(): void {
    this.multibar?.stop();
  }

  private payload(stage: StageProgress, now: number): Record<string, string | number> {
    let rows = stage.finishedRows;
    let spilled = stage.finishedSpilled;
    for (const m of stage.live.values()) {
      rows += rowsOf(m);
      spilled += m.diskBytesSpilled;
    }
    const seconds = Math.max((now - stage.started) / 1000, 1e-3);
    return {
      stage: `Stage ${stage.stageId} (${stage.name})`,
      label: `Stage ${stage.stageId} ${shortName(stage.name)}`.padEnd(14),
      done: stage.done,
      total: stage.total,
      running: stage.running.size,
      rate: compactCount(rows / seconds),
      spilled: spilled > 0 ? formatBytes(spilled) : '0',
    };
  }

  private update(stageId: number, now: number, final = false): void {
    const stage = this.stages.get(stageId);
    if (!stage) return;
    const payload = this.payload(stage, now);
    if (stage.bar) {
      stage.bar.update(stage.done, payload);
      return;
    }
    if (!final && now - stage.lastLine < this.plainIntervalMs) return;
    stage.lastLine = now;
    this.stream.write(`[${payload.stage}] ${payload.done}/${payload.total} tasks (${payload.running} running) | ${payload.rate} rows/s | spilled ${payload.spilled}${final ? ' | done' : ''}\n`);
  }
}

/** "result of job 1" → "result", "shuffle 2 map" → "map 2": the bar's label stays short. */
function shortName(name: string): string {
  const map = /^shuffle (\d+) map$/.exec(name);
  if (map) return `map ${map[1]}`;
  return name.startsWith('result') ? 'result' : name.slice(0, 8);
}

/** 2,985,075 → "2.99M"; 950 → "950". */
function compactCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return Math.round(n).toString();
}
