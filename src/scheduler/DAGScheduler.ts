/**
 * Turns a job's plan into stages and runs them: Spark's DAGScheduler.
 *
 * 1. The plan is cut at every shuffled node: each shuffle dependency is a ShuffleMapStage
 *    (one per shuffle id for the session's life, so a later job reuses its output), the root is
 *    the job's ResultStage.
 * 2. A stage first makes sure its parents' shuffle outputs are available, running missing
 *    parent stages (concurrently when independent); a parent whose every map output is
 *    registered is skipped.
 * 3. The stage's missing partitions go to the TaskScheduler as one task set. A map task's
 *    success registers its MapStatus with the MapOutputTracker; a result task's goes to the
 *    job's result handler. A result stage reading a shuffle may read neighbouring partitions
 *    in one task (coalescePartitions.ts): its layout is fixed when its parents are first
 *    available, and a task is named by the first partition it reads.
 * 4. A fetch failure unregisters the map output it names, and the stage tries again from step
 *    2 (which re-runs the lost map tasks), at most stage.maxConsecutiveAttempts times.
 * 5. A task set aborted (a task failed task.maxFailures times, results too large, a cancel)
 *    fails the job with JobFailedError carrying the last error, or JobCancelledError.
 */
import { JobCancelledError, JobFailedError, TungstenError } from '../errors.js';
import { numPartitionsOf, type PlanNode, type ShuffleDependency, shuffleDependenciesOf, stagePersists } from '../plan/PlanNode.js';
import type { MapOutputTracker, MapStatus } from '../shuffle/MapOutputTracker.js';
import type { ChunkedBytes } from '../storage/serialization.js';
import type { ListenerBus, SchedulerEvent } from './ListenerBus.js';
import { type CoalesceOptions, coalescePartitions, type PartitionRange } from './coalescePartitions.js';
import { addTaskMetrics, emptyTaskMetrics, type TaskDescription, type TaskMetrics } from './messages.js';
import type { TaskResultHandle, TaskScheduler } from './TaskScheduler.js';

interface ShuffleMapStage {
  readonly stageId: number;
  readonly dependency: ShuffleDependency;
  /** The run in progress, which another job needing this shuffle waits for. */
  running: Promise<void> | undefined;
}

type StageRun = JobMetrics['stages'][number];

/** One job while it runs. */
interface JobState {
  readonly jobId: number;
  /** Set when the job is cancelled: no new stage starts. */
  cancelled: string | undefined;
  /** The stages this job ran or waited for (its TaskEnd events count toward its metrics). */
  readonly stageIds: Set<number>;
  readonly stagesRun: StageRun[];
  readonly skipped: number[];
}

export interface JobOptions {
  readonly description: string;
  readonly result: NonNullable<TaskDescription['result']>;
  /** Result stage partitions to compute, one task each; default all, coalesced where the
   *  plan allows it. */
  readonly partitions?: readonly number[];
  /** Called once, before any result, with the partitions that name the result tasks (the
   *  first of each coalesced range), in order. */
  readonly onResultPartitions?: (partitions: readonly number[]) => void;
  readonly onResult: (result: TaskResultHandle) => Promise<void> | void;
  readonly signal?: AbortSignal;
}

/** What a job did, for its caller (Dataset actions return it). */
export interface JobMetrics {
  readonly jobId: number;
  readonly durationMs: number;
  readonly stages: ReadonlyArray<{ stageId: number; name: string; attempt: number; numTasks: number; durationMs: number }>;
  readonly skippedStages: readonly number[];
  readonly tasks: number;
  readonly failedTasks: number;
  /** Sums over the job's tasks. */
  readonly totals: TaskMetrics;
  /** Wall time in which no task of the job ran: planning, sampling, stage hand-overs, results. */
  readonly schedulingMs: number;
}

export class DAGScheduler {
  private nextJobId = 0;
  private nextStageId = 0;
  private readonly shuffleStages = new Map<number, ShuffleMapStage>();

  constructor(
    private readonly taskScheduler: TaskScheduler,
    private readonly tracker: MapOutputTracker,
    private readonly bus: ListenerBus,
    private readonly fetchResultBytes: (result: TaskResultHandle) => Promise<ChunkedBytes>,
    private readonly settings: {
      maxStageAttempts: number;
      bypassMergeThreshold: number;
      /** Result stages' shuffle partitions are coalesced with these; undefined: never. */
      coalesce: CoalesceOptions | undefined;
    },
  ) {}

  async runJob(root: PlanNode, options: JobOptions): Promise<JobMetrics> {
    const jobId = this.nextJobId++;
    const started = Date.now();
    const resultStageId = this.nextStageId++;
    const job: JobState = { jobId, cancelled: undefined, stageIds: new Set([resultStageId]), stagesRun: [], skipped: [] };
    const intervals: Array<[number, number]> = [];
    const totals = emptyTaskMetrics();
    let tasks = 0;
    let failedTasks = 0;
    const unsubscribe = this.bus.addListener((event: SchedulerEvent) => {
      if (event.Event !== 'TaskEnd' || !job.stageIds.has(event.stageId)) return;
      tasks++;
      if (event.reason !== 'Success') failedTasks++;
      intervals.push([event.taskInfo.launchTime, event.taskInfo.finishTime ?? event.time]);
      addTaskMetrics(totals, event.metrics);
    });
    const onAbort = (): void => {
      job.cancelled = String(options.signal?.reason ?? 'cancelled');
      this.taskScheduler.cancelJob(jobId, job.cancelled);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.bus.post({ Event: 'JobStart', time: started, jobId, stageIds: [resultStageId, ...this.allDependencies(root).map((d) => this.stageFor(d).stageId)], description: options.description });
    try {
      if (options.signal?.aborted) throw new JobCancelledError(`Job ${jobId} cancelled: ${String(options.signal.reason)}`);
      // By first partition; decided once the parents are available (their sizes known).
      let ranges: Map<number, PartitionRange> | undefined;
      const resultRanges = (): Map<number, PartitionRange> => {
        if (!ranges) {
          ranges = new Map(this.resultLayout(root, options).map((range) => [range.start, range]));
          options.onResultPartitions?.([...ranges.keys()]);
        }
        return ranges;
      };
      const done = new Set<number>();
      await this.runStageAttempts(job, resultStageId, root, `result of job ${jobId}`, true, () => [...resultRanges().keys()].filter((p) => !done.has(p)), (partition) => ({
        jobId,
        stageId: resultStageId,
        partition,
        root,
        result: options.result,
        shuffleBlocks: this.blocksFor(root, resultRanges().get(partition)!),
      }), async (result) => {
        done.add(result.partition);
        await options.onResult(result);
      });
      this.bus.post({ Event: 'JobEnd', time: Date.now(), jobId, result: 'JobSucceeded' });
    } catch (error) {
      this.bus.post({ Event: 'JobEnd', time: Date.now(), jobId, result: 'JobFailed', error: (error as Error).message });
      if (job.cancelled !== undefined && !(error instanceof JobCancelledError)) throw new JobCancelledError(`Job ${jobId} cancelled: ${job.cancelled}`);
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      unsubscribe();
    }
    const durationMs = Date.now() - started;
    return { jobId, durationMs, stages: job.stagesRun, skippedStages: job.skipped, tasks, failedTasks, totals, schedulingMs: idleTime(started, started + durationMs, intervals) };
  }

  private allDependencies(node: PlanNode): ShuffleDependency[] {
    return shuffleDependenciesOf(node).flatMap((d) => [...this.allDependencies(d.parent), d]);
  }

  private stageFor(dependency: ShuffleDependency): ShuffleMapStage {
    let stage = this.shuffleStages.get(dependency.shuffleId);
    if (!stage) {
      stage = { stageId: this.nextStageId++, dependency, running: undefined };
      this.shuffleStages.set(dependency.shuffleId, stage);
      const p = dependency.partitioner;
      this.tracker.registerShuffle(dependency.shuffleId, numPartitionsOf(dependency.parent), p.kind === 'single' ? 1 : p.numPartitions);
    }
    return stage;
  }

  private blocksFor(root: PlanNode, { start, end }: PartitionRange): TaskDescription['shuffleBlocks'] {
    const blocks: Record<number, ReturnType<MapOutputTracker['blocksFor']>> = {};
    for (const dependency of shuffleDependenciesOf(root)) {
      blocks[dependency.shuffleId] = this.tracker.blocksFor(dependency.shuffleId, start, end);
    }
    return blocks;
  }

  /** The result stage's tasks, as ranges of partitions (one partition each unless coalesced). */
  private resultLayout(root: PlanNode, options: JobOptions): PartitionRange[] {
    const single = (partitions: readonly number[]): PartitionRange[] => partitions.map((p) => ({ start: p, end: p + 1 }));
    if (options.partitions) return single(options.partitions);
    const all = Array.from({ length: numPartitionsOf(root) }, (_, i) => i);
    const dependencies = shuffleDependenciesOf(root);
    const coalesce = this.settings.coalesce;
    // A sample's size is per task, and a cached block is named by its partition.
    if (!coalesce || options.result.kind === 'sample' || dependencies.length !== 1 || !dependencies[0]!.mayCoalesce || stagePersists(root)) return single(all);
    return coalescePartitions(this.tracker.partitionSizes(dependencies[0]!.shuffleId), coalesce);
  }

  /** Makes every parent shuffle of `root` available, running missing parent stages. */
  private async ensureParents(job: JobState, root: PlanNode): Promise<void> {
    await Promise.all(
      shuffleDependenciesOf(root).map(async (dependency) => {
        const stage = this.stageFor(dependency);
        job.stageIds.add(stage.stageId);
        if (this.tracker.isAvailable(dependency.shuffleId)) {
          const ranHere = job.stagesRun.some((run) => run.stageId === stage.stageId);
          if (!ranHere && !job.skipped.includes(stage.stageId)) job.skipped.push(stage.stageId);
          return;
        }
        // Another job (or branch) may be running it already: wait for that run.
        stage.running ??= this.runShuffleStage(job, stage).finally(() => (stage.running = undefined));
        await stage.running;
      }),
    );
  }

  private async runShuffleStage(job: JobState, stage: ShuffleMapStage): Promise<void> {
    const { dependency } = stage;
    await this.runStageAttempts(job, stage.stageId, dependency.parent, `shuffle ${dependency.shuffleId} map`, false, () => this.tracker.missingMaps(dependency.shuffleId), (partition) => ({
      jobId: job.jobId,
      stageId: stage.stageId,
      partition,
      root: dependency.parent,
      shuffleWrite: { shuffleId: dependency.shuffleId, partitioner: dependency.partitioner, bypassMergeThreshold: this.settings.bypassMergeThreshold },
      shuffleBlocks: this.blocksFor(dependency.parent, { start: partition, end: partition + 1 }),
    }), async (result) => {
      const status = JSON.parse(Buffer.from((await this.fetchResultBytes(result)).toUint8Array()).toString('utf8')) as MapStatus;
      this.tracker.registerMapOutput(dependency.shuffleId, status);
    });
  }

  /** Steps 2-5 for one stage: parents, then the missing partitions, again after fetch failures. */
  private async runStageAttempts(
    job: JobState,
    stageId: number,
    root: PlanNode,
    name: string,
    isResultStage: boolean,
    missing: () => number[],
    describe: (partition: number) => Omit<TaskDescription, 'taskId' | 'attemptNumber' | 'stageAttemptId'>,
    onSuccess: (result: TaskResultHandle) => Promise<void>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await this.ensureParents(job, root);
      const partitions = missing();
      if (partitions.length === 0) return;
      if (job.cancelled !== undefined) throw new JobCancelledError(`Job ${job.jobId} cancelled: ${job.cancelled}`);
      const started = Date.now();
      const parentIds = shuffleDependenciesOf(root).map((d) => this.stageFor(d).stageId);
      this.bus.post({ Event: 'StageSubmitted', time: started, stageId, attemptId: attempt, name, numTasks: partitions.length, parentIds });
      const outcome = await this.taskScheduler.submitTasks({
        jobId: job.jobId,
        stageId,
        stageAttemptId: attempt,
        partitions,
        isResultStage,
        describe: (partition) => ({ ...describe(partition), stageAttemptId: attempt }),
        onSuccess,
      });
      const failureReason = outcome.kind === 'success' ? undefined : outcome.kind === 'fetchFailed' ? outcome.failure.message : outcome.error.message;
      this.bus.post({ Event: 'StageCompleted', time: Date.now(), stageId, attemptId: attempt, name, numTasks: partitions.length, ...(failureReason ? { failureReason } : {}) });
      job.stagesRun.push({ stageId, name, attempt, numTasks: partitions.length, durationMs: Date.now() - started });
      if (outcome.kind === 'success') continue;
      if (outcome.kind === 'aborted') {
        if (outcome.error instanceof JobCancelledError) throw outcome.error;
        if (outcome.error instanceof TungstenError) throw outcome.error;
        throw new JobFailedError(`Job ${job.jobId} aborted due to stage failure: ${outcome.error.message}`, { cause: outcome.error.cause ?? outcome.error });
      }
      const { failure } = outcome;
      this.tracker.unregisterMapOutput(failure.shuffleId, failure.mapIndex, failure.mapId);
      if (attempt + 1 >= this.settings.maxStageAttempts) {
        throw new JobFailedError(`Job ${job.jobId} aborted: ${name} failed ${attempt + 1} times on fetch failures; most recent: ${failure.message}`);
      }
    }
  }
}

/** The time in [start, end] covered by no interval. */
function idleTime(start: number, end: number, intervals: Array<[number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let reach = start;
  for (const [from, to] of sorted) {
    const a = Math.max(from, reach);
    const b = Math.min(to, end);
    if (b > a) {
      covered += b - a;
      reach = b;
    }
  }
  return Math.max(0, end - start - covered);
}
