/**
 * A lazy, partitioned collection of Arrow record batches: transformations build a plan, actions
 * run it as a job (Spark's Dataset/RDD API, the parts this engine has).
 *
 * Transformations: sortBy, groupBy(...).agg, repartition, mapBatches, filter, persist / cache /
 * unpersist. Actions: collect, toBatches, count, writeArrow. Each action's job metrics are in
 * `session.lastJob` once it settles (sortBy's sampling jobs are in `session.jobs` too).
 *
 * At an action's start the plan is resolved against the sources' schemas: an unknown column or
 * a type a function cannot take throws (ColumnNotFoundError, UnsupportedTypeError, ...) before
 * any task runs. A mapBatches function's output schema is only known when it runs, unless
 * given (`mapBatches(fn, { schema })`); checks after it wait for the tasks.
 *
 * Plans:
 *   sortBy(keys)   range-partition into sql.shuffle.partitions by sampled bounds (a sampling job
 *                  runs first, as Spark's RangePartitioner does), then sort each partition:
 *                  partitions in order are the total order
 *   groupBy.agg    partial aggregation per input partition, hash shuffle on the keys (one
 *                  partition without keys), final aggregation; each partition's groups come in
 *                  key order, partitions are not ordered among themselves
 *   repartition    hash shuffle on keys, or round robin without
 */
import { type FileHandle, open, rm } from 'node:fs/promises';
import { RecordBatchStreamWriter, type RecordBatch, type Schema, Table } from 'apache-arrow';
import { HashAggregator } from '../aggregate/HashAggregator.js';
import type { AggregateSpec } from '../aggregate/aggregates.js';
import { InvalidArgumentError } from '../errors.js';
import type { BatchFunction } from '../executor/pipeline.js';
import { ExternalSorter, type SortKey } from '../sort/ExternalSorter.js';
import { releaseNativeBatch } from '../sort/arrowBatches.js';
import { fieldIndex, nativeColumnType } from '../sort/columnTypes.js';
import { decodedSchema } from '../sort/dictionaries.js';
import { numPartitionsOf, type PartitionerDescriptor, type PlanNode, rangeDependenciesWithoutBounds, type ShuffleDependency, stagePersists } from '../plan/PlanNode.js';
import { inspectIpcFile, type SourceDescriptor } from '../plan/sources.js';
import type { JobMetrics } from '../scheduler/DAGScheduler.js';
import type { TaskResultHandle } from '../scheduler/TaskScheduler.js';
import { StorageLevel, type StorageLevelName } from '../storage/StorageLevel.js';
import { deserialize, SerializationStream, serializeBatches } from '../storage/serialization.js';
import { FileSink, ioError } from '../util/fileSink.js';
import { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import { generate, type WorkloadKind } from './generator.js';
import type { Session } from './Session.js';

/** Chunks of output files: the writes writeArrow queues between two drains. */
const OUTPUT_CHUNK_BYTES = 2 ** 20;

/** Record batches a range partitioner's sampling task reads of a split that can seek: with the
 *  generator's 65,536-row batches, a million rows for the few hundred it keeps. */
const SAMPLED_BATCHES_PER_SPLIT = 16;

export type SourceInput =
  | { kind: 'table'; registryId: number; table: Table; partitions?: number }
  | { kind: 'batches'; registryId: number }
  | { kind: 'ipcFile'; path: string; partitions?: number }
  | { kind: 'generator'; workload: WorkloadKind; rows: number; groups?: number; seed?: number; batchRows?: number; partitions?: number };

type Logical =
  | { readonly op: 'source'; readonly id: number; readonly input: SourceInput }
  | { readonly op: 'mapBatches' | 'filter'; readonly id: number; readonly parent: Logical; readonly fnId: number; readonly schema?: Schema }
  | { readonly op: 'sortBy'; readonly id: number; readonly parent: Logical; readonly keys: readonly SortKey[]; readonly shuffleId: number; readonly partitions?: number }
  | { readonly op: 'groupBy'; readonly id: number; readonly parent: Logical; readonly keys: readonly string[]; readonly aggregates: readonly (string | AggregateSpec)[]; readonly shuffleId: number; readonly partitions?: number }
  | { readonly op: 'repartition'; readonly id: number; readonly parent: Logical; readonly partitions: number; readonly keys: readonly string[]; readonly shuffleId: number }
  | { readonly op: 'persist'; readonly id: number; readonly parent: Logical; readonly level: StorageLevelName };

export interface SortOptions {
  /** Applies to keys given as names. Default true. */
  readonly ascending?: boolean;
  /** Applies to keys given as names. Default: first when ascending, last when descending. */
  readonly nullsFirst?: boolean;
  /** Output partitions; default sql.shuffle.partitions. */
  readonly partitions?: number;
}

export interface ActionOptions {
  /** Cancels the job: its tasks stop at the next batch boundary and release everything. */
  readonly signal?: AbortSignal;
}

export interface WriteArrowOptions extends ActionOptions {
  readonly format?: 'file' | 'stream';
  readonly compression?: 'lz4' | 'none';
}

/** A planned job: its root and its output schema (undefined after an untyped mapBatches). */
interface Planned {
  readonly root: PlanNode;
  readonly schema: Schema | undefined;
}

export class GroupedDataset {
  constructor(
    private readonly dataset: Dataset,
    private readonly keys: readonly string[],
    private readonly partitions: number | undefined,
  ) {}

  /** The same grouping into `n` shuffle partitions (default sql.shuffle.partitions). */
  withPartitions(n: number): GroupedDataset {
    return new GroupedDataset(this.dataset, this.keys, positive(n, 'partitions'));
  }

  /** Aggregates each group: "count(*)", "sum(v)", { fn: 'avg', column: 'v', as: 'mean' }, ... */
  agg(...aggregates: Array<string | AggregateSpec | ReadonlyArray<string | AggregateSpec>>): Dataset {
    const flat = aggregates.flat() as Array<string | AggregateSpec>;
    if (flat.length === 0) throw new InvalidArgumentError('agg() needs at least one aggregate, e.g. "count(*)"');
    return this.dataset.derive((id, parent, session) => ({ op: 'groupBy', id, parent, keys: this.keys, aggregates: flat, shuffleId: session.nextPlanId(), ...(this.partitions ? { partitions: this.partitions } : {}) }));
  }
}

export class Dataset {
  private constructor(
    private readonly session: Session,
    private readonly logical: Logical,
  ) {}

  /** @internal */
  static fromSource(session: Session, input: SourceInput): Dataset {
    return new Dataset(session, { op: 'source', id: session.nextPlanId(), input });
  }

  /** @internal */
  derive(make: (id: number, parent: Logical, session: Session) => Logical): Dataset {
    return new Dataset(this.session, make(this.session.nextPlanId(), this.logical, this.session));
  }

  // ---- transformations ----

  /** A total order across partitions: column names (with the options' direction) or SortKeys. */
  sortBy(keys: string | SortKey | ReadonlyArray<string | SortKey>, options: SortOptions = {}): Dataset {
    const list = (Array.isArray(keys) ? keys : [keys]) as Array<string | SortKey>;
    if (list.length === 0) throw new InvalidArgumentError('sortBy needs at least one key');
    const descending = options.ascending === undefined ? false : !options.ascending;
    const resolved: SortKey[] = list.map((key) =>
      typeof key === 'string' ? { column: key, descending, nullsFirst: options.nullsFirst ?? !descending } : key,
    );
    return this.derive((id, parent, session) => ({ op: 'sortBy', id, parent, keys: resolved, shuffleId: session.nextPlanId(), ...(options.partitions ? { partitions: positive(options.partitions, 'partitions') } : {}) }));
  }

  groupBy(...keys: Array<string | readonly string[]>): GroupedDataset {
    return new GroupedDataset(this, keys.flat() as string[], undefined);
  }

  /** Hash-partitions by `keys` into n partitions, or spreads rows round robin without keys.
   *  Keys are given as groupBy's are: `repartition(8, 'a', 'b')` or `repartition(8, ['a', 'b'])`. */
  repartition(partitions: number, ...keys: Array<string | readonly string[]>): Dataset {
    const columns = keys.flat() as string[];
    return this.derive((id, parent, session) => ({ op: 'repartition', id, parent, partitions: positive(partitions, 'partitions'), keys: columns, shuffleId: session.nextPlanId() }));
  }

  /** A JavaScript function over each batch (runs in this process). Give `schema` when the output
   *  schema differs, so that later steps are checked before the job runs. */
  mapBatches(fn: (batch: RecordBatch) => RecordBatch | null | undefined, options: { schema?: Schema } = {}): Dataset {
    const fnId = this.session.registerFunction(fn as BatchFunction);
    return this.derive((id, parent) => ({ op: 'mapBatches', id, parent, fnId, ...(options.schema ? { schema: options.schema } : {}) }));
  }

  /** Keeps the rows for which `fn(batch)` has a truthy flag (an array or typed array, one per row). */
  filter(fn: (batch: RecordBatch) => ArrayLike<boolean | number>): Dataset {
    const fnId = this.session.registerFunction(fn as BatchFunction);
    return this.derive((id, parent) => ({ op: 'filter', id, parent, fnId }));
  }

  /** Caches each partition in the block manager at `level` when first computed. */
  persist(level: StorageLevelName | StorageLevel = 'MEMORY_AND_DISK'): Dataset {
    const name = (typeof level === 'string' ? level : level.toString()) as StorageLevelName;
    StorageLevel.fromString(name);
    return this.derive((id, parent) => ({ op: 'persist', id, parent, level: name }));
  }

  cache(): Dataset {
    return this.persist('MEMORY_AND_DISK');
  }

  /** Drops the cached partitions of this dataset (when it is a persist()). */
  async unpersist(): Promise<void> {
    if (this.logical.op === 'persist') await this.session.blockManager.removeRdd(this.logical.id);
  }

  // ---- actions ----

  async collect(options: ActionOptions = {}): Promise<Table> {
    const planned = await this.plan();
    const batches: RecordBatch[] = [];
    for await (const batch of this.stream(planned, options)) batches.push(batch);
    if (batches.length > 0) return new Table(batches);
    return planned.schema ? new Table(planned.schema) : new Table();
  }

  async count(options: ActionOptions = {}): Promise<number> {
    const planned = await this.plan();
    let total = 0;
    await this.run(planned.root, { kind: 'count' }, options.signal, async (result) => {
      total += JSON.parse(Buffer.from((await this.session.fetchResult(result)).toUint8Array()).toString('utf8')) as number;
    });
    return total;
  }

  /** The batches, partition after partition (in order: for sortBy, the total order), streamed
   *  as partitions finish. Abandoning the iteration cancels the job. */
  async *toBatches(options: ActionOptions = {}): AsyncGenerator<RecordBatch, void, undefined> {
    yield* this.stream(await this.plan(), options);
  }

  private async *stream(planned: Planned, options: ActionOptions): AsyncGenerator<RecordBatch, void, undefined> {
    const arrived = new Map<number, TaskResultHandle>();
    let wake: (() => void) | undefined;
    let failure: unknown;
    let finished = false;
    const controller = new AbortController();
    const forward = (): void => controller.abort(options.signal?.reason ?? 'cancelled');
    options.signal?.addEventListener('abort', forward, { once: true });
    if (options.signal?.aborted) forward();
    // The result tasks in output order, by first partition: every partition until the
    // scheduler says which it coalesced (before any result arrives).
    let order: readonly number[] = Array.from({ length: numPartitionsOf(planned.root) }, (_, i) => i);
    const onResultPartitions = (partitions: readonly number[]): void => {
      order = partitions;
      wake?.();
    };
    const job = this.run(planned.root, { kind: 'batches' }, controller.signal, (result) => {
      arrived.set(result.partition, result);
      wake?.();
    }, onResultPartitions).then(
      () => (finished = true),
      (error: unknown) => {
        failure = error;
        finished = true;
      },
    ).finally(() => wake?.());
    try {
      // `order` is read afresh after each wait: the layout may arrive while partition 0 is awaited.
      for (let i = 0; i < order.length; i++) {
        while (!arrived.has(order[i]!) && !finished && failure === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (failure !== undefined) throw failure;
        const p = order[i]!;
        const result = arrived.get(p);
        if (!result) continue;
        arrived.delete(p);
        yield* this.session.resultBatches(result);
      }
      await job;
      if (failure !== undefined) throw failure;
    } finally {
      if (!finished) controller.abort('the consumer stopped reading');
      await job;
      for (const result of arrived.values()) await this.session.discardResult(result);
      options.signal?.removeEventListener('abort', forward);
    }
  }

  /**
   * Writes the batches to an Arrow IPC file ('file', the default) or stream, LZ4_FRAME
   * compressed unless compression is 'none'; streams, partition by partition, waiting for the
   * file after each batch so that no more than about a batch of output waits in memory. A
   * failed write removes the file; a full disk is DISK_FULL.
   */
  async writeArrow(path: string, options: WriteArrowOptions = {}): Promise<{ rows: number; bytes: number }> {
    const format = options.format ?? 'file';
    if (format !== 'file' && format !== 'stream') throw new InvalidArgumentError(`format must be 'file' or 'stream', got ${String(format)}`);
    const compression = options.compression ?? 'lz4';
    if (compression !== 'lz4' && compression !== 'none') throw new InvalidArgumentError(`compression must be 'lz4' or 'none', got ${String(compression)}`);
    const planned = await this.plan();
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'w');
      const sink = new FileSink(handle);
      const stream = new SerializationStream(compression, OUTPUT_CHUNK_BYTES, (chunk) => sink.write(chunk), format);
      let rows = 0;
      for await (const batch of this.stream(planned, options)) {
        stream.write(batch);
        rows += batch.numRows;
        await sink.drain();
      }
      if (stream.bytesWritten === 0 && planned.schema) stream.writeSchema(planned.schema);
      stream.finish();
      await sink.drain();
      await handle.close();
      handle = undefined;
      return { rows, bytes: sink.size };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(path, { force: true });
      throw ioError(error, `writing ${path}`, 'free space on that device or write the output elsewhere');
    }
  }

  /** The output schema, as planned (undefined after an untyped mapBatches). */
  async schema(): Promise<Schema | undefined> {
    return (await this.plan()).schema;
  }

  // ---- planning ----

  private async run(
    root: PlanNode,
    result: { kind: 'batches' | 'count' },
    signal: AbortSignal | undefined,
    onResult: (result: TaskResultHandle) => Promise<void> | void,
    onResultPartitions?: (partitions: readonly number[]) => void,
  ): Promise<JobMetrics> {
    const metrics = await this.session.runJob(async (jobSignal) => {
      await this.computeRangeBounds(root, jobSignal);
      return this.session.dagScheduler.runJob(root, { description: describePlan(root), result, onResult, signal: jobSignal, ...(onResultPartitions ? { onResultPartitions } : {}) });
    }, signal);
    this.session.lastJob = metrics;
    return metrics;
  }

  /** Resolves the plan against the sources' schemas (throwing schema errors now). */
  private async plan(): Promise<Planned> {
    return planNode(this.session, this.logical);
  }

  /**
   * Runs a sampling job for every range shuffle without bounds (deepest first) and keeps the
   * bounds in the session by shuffle id, so that every later job over this shuffle uses the
   * partitioner its map output was written with.
   */
  private async computeRangeBounds(root: PlanNode, signal: AbortSignal): Promise<void> {
    for (const dependency of rangeDependenciesWithoutBounds(root)) {
      const partitioner = dependency.partitioner as Extract<PartitionerDescriptor, { kind: 'range' }>;
      const n = partitioner.numPartitions;
      // Spark's RangePartitioner: 20 samples per output partition, capped at 1e6, taken 3x over.
      const sampleSize = Math.min(20 * n, 1e6);
      const perPartition = Math.ceil((3 * sampleSize) / numPartitionsOf(dependency.parent));
      // Spark reads the whole input to sample it. Bounds only balance the partitions (any
      // bounds sort correctly), so sources that can seek read a spread of their batches: a
      // few hundred rows per split need far fewer than millions. Not when the stage caches a
      // partition, which must hold all of it.
      const batchesPerSplit = stagePersists(dependency.parent) ? undefined : SAMPLED_BATCHES_PER_SPLIT;
      const samples: RecordBatch[] = [];
      const jobMetrics = await this.session.dagScheduler.runJob(dependency.parent, {
        description: `sample for the range partitioner of shuffle ${dependency.shuffleId}`,
        result: { kind: 'sample', sampleSize: perPartition, seed: dependency.shuffleId, ...(batchesPerSplit ? { batchesPerSplit } : {}) },
        signal,
        onResult: async (result) => {
          const bytes = (await this.session.fetchResult(result)).toUint8Array();
          if (bytes.byteLength > 8) samples.push(...deserialize([bytes.subarray(8)]));
        },
      });
      this.session.jobs.push(jobMetrics);
      partitioner.bounds = await rangeBounds(this.session, samples, partitioner.keys, n);
      this.session.rangeBounds.set(dependency.shuffleId, partitioner.bounds);
    }
  }
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive whole number, got ${n}`);
  return n;
}

function describePlan(node: PlanNode): string {
  switch (node.kind) {
    case 'source':
      return node.source.kind;
    case 'shuffled':
      return `${describePlan(node.dependency.parent)} → shuffle(${node.dependency.partitioner.kind})`;
    default:
      return `${describePlan(node.parent)} → ${node.kind}`;
  }
}

function emptyStreamBase64(schema: Schema): string {
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  writer.close();
  return Buffer.from(writer.toUint8Array(true)).toString('base64');
}

function checkKeys(schema: Schema | undefined, columns: readonly string[]): void {
  if (!schema) return;
  const decoded = decodedSchema(schema);
  for (const column of columns) nativeColumnType(decoded.fields[fieldIndex(decoded.fields, column)]!);
}

async function planNode(session: Session, logical: Logical): Promise<Planned> {
  switch (logical.op) {
    case 'source': {
      const { root, schema } = await planSource(session, logical.id, logical.input);
      return { root, schema };
    }
    case 'mapBatches':
    case 'filter': {
      const parent = await planNode(session, logical.parent);
      return { root: { kind: logical.op, id: logical.id, parent: parent.root, fnId: logical.fnId }, schema: logical.op === 'filter' ? parent.schema : logical.schema };
    }
    case 'persist': {
      const parent = await planNode(session, logical.parent);
      return { root: { kind: 'persist', id: logical.id, parent: parent.root, level: logical.level }, schema: parent.schema };
    }
    case 'sortBy': {
      const parent = await planNode(session, logical.parent);
      checkKeys(parent.schema, logical.keys.map((k) => k.column));
      const n = logical.partitions ?? session.config['sql.shuffle.partitions'];
      const bounds = session.rangeBounds.get(logical.shuffleId);
      // One partition needs no bounds, and no sampling job.
      const partitioner: PartitionerDescriptor =
        n === 1 ? { kind: 'single' } : { kind: 'range', numPartitions: n, keys: logical.keys, ...(bounds !== undefined ? { bounds } : {}) };
      const dependency = shuffleDependency(logical.shuffleId, parent, partitioner, logical.partitions === undefined);
      const shuffled: PlanNode = { kind: 'shuffled', id: logical.shuffleId, dependency };
      return { root: { kind: 'sort', id: logical.id, parent: shuffled, keys: logical.keys }, schema: parent.schema ? decodedSchema(parent.schema) : undefined };
    }
    case 'groupBy': {
      const parent = await planNode(session, logical.parent);
      let partialSchema: Schema | undefined;
      let finalSchema: Schema | undefined;
      if (parent.schema) {
        partialSchema = HashAggregator.outputSchema(parent.schema, { groupBy: logical.keys, aggregates: logical.aggregates, mode: 'partial' });
        finalSchema = HashAggregator.outputSchema(partialSchema, { groupBy: logical.keys, aggregates: logical.aggregates, mode: 'final' });
      }
      const ratio = session.config['aggregate.skipPartialRatio'];
      const skipPartial = logical.keys.length > 0 && ratio < 1 ? { probeRows: session.config['aggregate.skipPartialProbeRows'], ratio } : undefined;
      const partial: PlanNode = {
        kind: 'aggregate',
        id: session.nextPlanId(),
        parent: parent.root,
        mode: 'partial',
        groupBy: logical.keys,
        aggregates: logical.aggregates,
        ...(skipPartial ? { skipPartial } : {}),
      };
      const n = logical.partitions ?? session.config['sql.shuffle.partitions'];
      const partitioner: PartitionerDescriptor = logical.keys.length === 0 ? { kind: 'single' } : { kind: 'hash', numPartitions: n, columns: logical.keys };
      const dependency = shuffleDependency(logical.shuffleId, { root: partial, schema: partialSchema }, partitioner, logical.partitions === undefined);
      const shuffled: PlanNode = { kind: 'shuffled', id: logical.shuffleId, dependency };
      return { root: { kind: 'aggregate', id: logical.id, parent: shuffled, mode: 'final', groupBy: logical.keys, aggregates: logical.aggregates }, schema: finalSchema };
    }
    case 'repartition': {
      const parent = await planNode(session, logical.parent);
      checkKeys(parent.schema, logical.keys);
      const partitioner: PartitionerDescriptor = logical.keys.length > 0 ? { kind: 'hash', numPartitions: logical.partitions, columns: logical.keys } : { kind: 'roundRobin', numPartitions: logical.partitions };
      const dependency = shuffleDependency(logical.shuffleId, parent, partitioner, false);
      return { root: { kind: 'shuffled', id: logical.shuffleId, dependency }, schema: parent.schema ? decodedSchema(parent.schema) : undefined };
    }
  }
}

/** `mayCoalesce`: the partition count is the session's default, not the user's. */
function shuffleDependency(shuffleId: number, parent: Planned, partitioner: PartitionerDescriptor, mayCoalesce: boolean): ShuffleDependency {
  return {
    shuffleId,
    parent: parent.root,
    partitioner,
    ...(mayCoalesce ? { mayCoalesce } : {}),
    ...(parent.schema ? { schema: emptyStreamBase64(decodedSchema(parent.schema)) } : {}),
  };
}

async function planSource(session: Session, id: number, input: SourceInput): Promise<Planned> {
  const parallelism = session.defaultParallelism;
  let source: SourceDescriptor;
  let schema: Schema;
  switch (input.kind) {
    case 'table': {
      const batches = input.table.batches.length;
      source = { kind: 'table', registryId: input.registryId, numPartitions: Math.max(1, Math.min(input.partitions ?? parallelism, batches)) };
      schema = input.table.schema;
      break;
    }
    case 'batches':
      return { root: { kind: 'source', id, source: { kind: 'batches', registryId: input.registryId, numPartitions: 1 } }, schema: undefined };
    case 'ipcFile': {
      const info = await inspectIpcFile(input.path);
      const n = info.format === 'file' ? Math.max(1, Math.min(input.partitions ?? parallelism, info.numBatches)) : 1;
      source = { kind: 'ipcFile', path: input.path, format: info.format, numBatches: info.numBatches, numPartitions: n };
      schema = info.schema;
      break;
    }
    case 'generator': {
      if (!Number.isSafeInteger(input.rows) || input.rows < 0) throw new InvalidArgumentError(`rows must be a whole number, got ${input.rows}`);
      const { kind: _kind, partitions, ...rest } = input;
      source = { kind: 'generator', ...rest, numPartitions: Math.max(1, Math.min(partitions ?? parallelism, Math.max(1, input.rows))) };
      schema = generate(input.workload, { rows: 1, ...(input.groups !== undefined ? { groups: input.groups } : {}) }).next().value!.schema;
      break;
    }
  }
  return { root: { kind: 'source', id, source }, schema };
}

/**
 * Bounds for `n` (> 1) range partitions from the sampled rows: the samples sorted natively (the
 * order the partitioner will use), then n − 1 rows at even steps. Returned as base64 IPC of one
 * batch; '' when nothing was sampled: the input is empty, so no map task partitions a row.
 */
async function rangeBounds(session: Session, samples: RecordBatch[], keys: readonly SortKey[], n: number): Promise<string> {
  const total = samples.reduce((sum, batch) => sum + batch.numRows, 0);
  if (total === 0) return '';
  // Driver-side work borrows the execution pool as a task of its own.
  const tmm = new TaskMemoryManager(session.memoryManager, session.nextDriverTaskId());
  try {
    const sorted: RecordBatch[] = [];
    const sorter = await ExternalSorter.create(tmm, samples[0]!.schema, { keys });
    try {
      for (const batch of samples) await sorter.insert(batch);
      for await (const batch of sorter.sortedBatches()) sorted.push(batch);
    } finally {
      await sorter.close();
    }
    const picks: RecordBatch[] = [];
    const rowAt = (index: number): RecordBatch => {
      let i = index;
      for (const batch of sorted) {
        if (i < batch.numRows) return batch.slice(i, i + 1);
        i -= batch.numRows;
      }
      throw new InvalidArgumentError('sample index out of range');
    };
    for (let i = 1; i < n; i++) picks.push(rowAt(Math.min(total - 1, Math.floor((i * total) / n))));
    // One batch of the picks, in order: a sorter without keys keeps insertion order.
    const joiner = await ExternalSorter.create(tmm, picks[0]!.schema, { keys: [], batchRows: n });
    let joined: RecordBatch | undefined;
    try {
      for (const batch of picks) await joiner.insert(batch);
      for await (const batch of joiner.sortedBatches()) joined = batch;
    } finally {
      await joiner.close();
      // The picks were copied into the joiner: the sorted samples are not read again.
      for (const batch of sorted) releaseNativeBatch(batch);
    }
    try {
      return Buffer.from(serializeBatches([joined!], 'none', 1 << 20).toUint8Array()).toString('base64');
    } finally {
      releaseNativeBatch(joined!);
    }
  } finally {
    tmm.cleanUpAllAllocatedMemory();
  }
}
