/**
 * Rebuilds a stage's pipeline from its plan fragment and runs it for one partition, as async
 * iterators of record batches: each node pulls from its parent. Operators (sorters,
 * aggregations) are created here, recorded in the task's context for its metrics, and closed in
 * each generator's `finally`, so that when the task's iteration ends, fails or is abandoned
 * every operator has released its pages and files before the TaskRunner cleans up the task's
 * memory (an operator's native worker must never run on freed pages).
 *
 * Kill checks sit between batches at every node (Spark's InterruptibleIterator): a killed task
 * stops at its next batch boundary.
 */
import { type RecordBatch, RecordBatchReader, type Schema } from 'apache-arrow';
import { TaskKilledError } from '../errors.js';
import type { TaskMemoryManager } from '../memory/TaskMemoryManager.js';
import { ExternalSorter } from '../sort/ExternalSorter.js';
import type { SpillingOperator } from '../sort/SpillingOperator.js';
import { releaseNativeBatch } from '../sort/arrowBatches.js';
import { HashAggregator } from '../aggregate/HashAggregator.js';
import { passThroughPlan } from '../aggregate/partialState.js';
import { BlockId } from '../storage/BlockId.js';
import type { BlockManager } from '../storage/BlockManager.js';
import type { DiskBlockManager } from '../storage/DiskBlockManager.js';
import { StorageLevel } from '../storage/StorageLevel.js';
import type { PlanNode } from '../plan/PlanNode.js';
import { openNativeSplit, readSplit, type SourceRegistry } from '../plan/sources.js';
import type { IpcRangeInput } from '../storage/nativeIpc.js';
import { emptyShuffleReadMetrics, readShuffleBlocks, type ShuffleReadMetrics } from '../shuffle/ShuffleReader.js';
import type { ShuffleClient } from '../shuffle/ShuffleBlockFetcher.js';
import type { ShuffleWriteMetrics } from '../shuffle/ShuffleWriter.js';
import type { TaskDescription } from '../scheduler/messages.js';

/** A function a mapBatches or filter node names; the one live object a plan refers to. */
export type BatchFunction = (batch: RecordBatch) => RecordBatch | ArrayLike<boolean | number> | null | undefined;

export interface OperatorMetricsSource {
  readonly metrics: { spillCount: number; memoryBytesSpilled: number; diskBytesSpilled: number; peakExecutionMemory: number; mergePasses?: number; cpuTimeMs: number };
}

/** What one running task can reach. */
export interface TaskContext {
  readonly description: TaskDescription;
  readonly taskMemoryManager: TaskMemoryManager;
  readonly blockManager: BlockManager;
  readonly diskBlockManager: DiskBlockManager;
  readonly shuffleClient: ShuffleClient;
  readonly sources: SourceRegistry;
  readonly functions: (fnId: number) => BatchFunction;
  readonly executorId: string;
  readonly fetch: { maxBytesInFlight: number; maxReqsInFlight: number; maxBlocksInFlightPerAddress: number };
  readonly shuffleRead: ShuffleReadMetrics;
  /** Set by a map task once its output is written. */
  shuffleWrite?: ShuffleWriteMetrics;
  readonly operators: OperatorMetricsSource[];
  inputRecords: number;
  /** CPU time of decoding IPC input natively (shuffle segments, IPC file sources), on worker
   *  threads: part of the task's native work, as its operators' is. */
  decodeCpuNanos: number;
  /** Set by a kill; checked between batches. */
  killReason: string | undefined;
}

export function checkKilled(context: TaskContext): void {
  if (context.killReason !== undefined) throw new TaskKilledError(context.killReason);
}

/** The batches of `node` for the task's partition. */
export function compute(node: PlanNode, context: TaskContext): AsyncGenerator<RecordBatch, void, undefined> {
  return interruptible(computeNode(node, context), context);
}

/**
 * The batches of `node` for a consumer of the engine's own that is done with each batch when it
 * asks for the next (a task's result serialization, its shuffle writer, a count). The output
 * batch of a sort, an aggregation, a shuffle read or an IPC file source (natively decoded) is
 * then released at once, its native bytes freed, instead of waiting for a garbage collection;
 * nothing else can have seen it, as that node is the root. Any other root's batches (a user
 * function's, a cached block's, a table's) are left alone.
 */
export function computeConsumed(node: PlanNode, context: TaskContext): AsyncGenerator<RecordBatch, void, undefined> {
  const batches = compute(node, context);
  const engineOwned = node.kind === 'sort' || node.kind === 'aggregate' || yieldsDecodedBatches(node);
  return engineOwned ? releasedAfterUse(batches) : batches;
}

/** Whether a node's batches are the engine's own decoding of IPC input (a shuffle read, an IPC
 *  file source): native output that no user function has seen. */
function yieldsDecodedBatches(node: PlanNode): boolean {
  return node.kind === 'shuffled' || (node.kind === 'source' && node.source.kind === 'ipcFile');
}

async function* releasedAfterUse(source: AsyncIterable<RecordBatch>): AsyncGenerator<RecordBatch, void, undefined> {
  for await (const batch of source) {
    try {
      yield batch;
    } finally {
      releaseNativeBatch(batch);
    }
  }
}

async function* interruptible(source: AsyncIterable<RecordBatch>, context: TaskContext): AsyncGenerator<RecordBatch, void, undefined> {
  for await (const batch of source) {
    checkKilled(context);
    yield batch;
  }
  checkKilled(context);
}

async function* computeNode(node: PlanNode, context: TaskContext): AsyncGenerator<RecordBatch, void, undefined> {
  const partition = context.description.partition;
  switch (node.kind) {
    case 'source': {
      const result = context.description.result;
      const batchesPerSplit = result?.kind === 'sample' ? result.batchesPerSplit : undefined;
      for await (const batch of readSplit(node.source, partition, context.sources, (nanos) => (context.decodeCpuNanos += nanos), batchesPerSplit)) {
        context.inputRecords += batch.numRows;
        yield batch;
      }
      return;
    }
    case 'shuffled': {
      const blocks = context.description.shuffleBlocks[node.dependency.shuffleId] ?? [];
      const started = performance.now();
      const metrics = emptyShuffleReadMetrics();
      try {
        const fetch = { ...context.fetch, localExecutorId: context.executorId };
        yield* readShuffleBlocks(blocks, schemaOfEmpty(node), context.shuffleClient, fetch, metrics, (nanos) => (context.decodeCpuNanos += nanos));
      } finally {
        addReadMetrics(context.shuffleRead, metrics, performance.now() - started);
      }
      return;
    }
    case 'mapBatches':
    case 'filter': {
      const fn = context.functions(node.fnId);
      for await (const batch of compute(node.parent, context)) {
        if (node.kind === 'filter') {
          yield* keptRuns(batch, fn(batch) as ArrayLike<boolean | number>);
          continue;
        }
        const out = fn(batch) as RecordBatch | null | undefined;
        if (out && out.numRows > 0) yield out;
      }
      return;
    }
    case 'sort': {
      const input = compute(node.parent, context);
      // The input is ended whatever happens, also when the operator cannot even be created:
      // a source's file or an upstream operator must not outlive the task.
      try {
        const first = await input.next();
        if (first.done) return;
        const sorter = await ExternalSorter.create(context.taskMemoryManager, first.value.schema, {
          keys: node.keys,
          diskBlockManager: context.diskBlockManager,
        });
        context.operators.push(sorter);
        try {
          await insertInput(sorter, first.value, input, node);
          yield* sorter.sortedBatches();
        } finally {
          await sorter.close();
        }
      } finally {
        await input.return(undefined);
      }
      return;
    }
    case 'aggregate': {
      // An IPC file split under the aggregation is read by one native reader: its first batches
      // come through JavaScript (the aggregation is made from the first; a partial one probes),
      // the rest native code inserts straight from the reader, with no JavaScript per batch.
      const native = await openNativeInput(node, context);
      const input = native ? interruptible(ipcRangeBatches(native, context), context) : compute(node.parent, context);
      const insertRestNatively = native
        ? (aggregator: HashAggregator) =>
            aggregator.insertFromReader(native.reader, native.schema, {
              onRows: (rows) => (context.inputRecords += rows),
              beforeEachCall: () => checkKilled(context),
            })
        : undefined;
      try {
        const first = await input.next();
        const schema = first.done ? schemaOfEmpty(node.parent) : first.value.schema;
        // No input: a keyed (or partial) aggregation has no groups; a global final or complete
        // one still has its one group (count 0), which needs the input's schema.
        if (first.done && (node.groupBy.length > 0 || node.mode === 'partial' || schema === undefined)) return;
        const aggregator = await HashAggregator.create(context.taskMemoryManager, schema!, {
          groupBy: node.groupBy,
          aggregates: node.aggregates,
          mode: node.mode,
          diskBlockManager: context.diskBlockManager,
        });
        context.operators.push(aggregator);
        try {
          const insertRest = insertRestNatively && (() => insertRestNatively(aggregator));
          if (!first.done && node.skipPartial) {
            const passThrough = await probePartial(aggregator, first.value, input, node, node.skipPartial, insertRest);
            if (passThrough) {
              yield* aggregator.results();
              // A passed-through batch shares the input's columns; a partial aggregation is the
              // root of its map stage, whose writer is done with a batch when it asks for the
              // next, so decoded input is freed then.
              const releaseInput = yieldsDecodedBatches(node.parent);
              for await (const batch of input) {
                try {
                  yield passThrough(batch);
                } finally {
                  if (releaseInput) releaseNativeBatch(batch);
                }
              }
              return;
            }
          } else if (!first.done) {
            await insertInput(aggregator, first.value, input, node, insertRest);
          }
          yield* aggregator.results();
        } finally {
          await aggregator.close();
        }
      } finally {
        await input.return(undefined);
        native?.close();
      }
      return;
    }
    case 'persist': {
      const task = context.description.taskId;
      const got = await context.blockManager.getOrElseUpdate(
        BlockId.rdd(node.id, partition),
        StorageLevel.fromString(node.level),
        () => compute(node.parent, context),
        { task },
      );
      if (!got.cached) {
        yield* got.batches;
        return;
      }
      try {
        yield* got.result;
      } finally {
        await got.result.close();
      }
      return;
    }
  }
}

/** Inserts an operator's input, the first batch (already read) and the rest (through
 *  `insertRest` when native code takes it). Batches straight from a shuffle read or an IPC file
 *  are released once inserted: nothing but the operator sees them. */
async function insertInput(
  operator: SpillingOperator<unknown>,
  first: RecordBatch,
  rest: AsyncIterable<RecordBatch>,
  node: PlanNode & { parent: PlanNode },
  insertRest?: () => Promise<void>,
): Promise<void> {
  const releaseInserted = yieldsDecodedBatches(node.parent);
  await operator.insert(first);
  if (releaseInserted) releaseNativeBatch(first);
  if (insertRest) await insertRest();
  else await operator.insertAll(rest, { releaseInserted });
}

/** An aggregation's input as one native reader, when its parent is a split of an IPC file that
 *  native code decodes (openNativeSplit); not for a sample, which reads a spread of batches. */
async function openNativeInput(node: PlanNode & { kind: 'aggregate' }, context: TaskContext): Promise<IpcRangeInput | undefined> {
  if (node.parent.kind !== 'source' || context.description.result?.kind === 'sample') return undefined;
  return openNativeSplit(node.parent.source, context.description.partition, (nanos) => (context.decodeCpuNanos += nanos));
}

/** The batches an IpcRangeInput reads into JavaScript, counted as the task's input; the reader
 *  is closed when they end or are abandoned. */
async function* ipcRangeBatches(input: IpcRangeInput, context: TaskContext): AsyncGenerator<RecordBatch, void, undefined> {
  try {
    for (let batch = await input.next(); batch !== undefined; batch = await input.next()) {
      context.inputRecords += batch.numRows;
      yield batch;
    }
  } finally {
    input.close();
  }
}

/**
 * A partial aggregation's probe (aggregate/partialState.ts): inserts the first batch and more
 * until `probeRows` rows are in. Returns the conversion that passes the remaining rows through
 * when the groups are more than `ratio` of the rows inserted, nothing spilled, and the columns
 * convert; otherwise inserts the rest of the input and returns undefined.
 */
async function probePartial(
  aggregator: HashAggregator,
  first: RecordBatch,
  rest: AsyncGenerator<RecordBatch, void, undefined>,
  node: PlanNode & { kind: 'aggregate' },
  skip: { readonly probeRows: number; readonly ratio: number },
  insertRest?: () => Promise<void>,
): Promise<((batch: RecordBatch) => RecordBatch) | undefined> {
  const releaseInserted = yieldsDecodedBatches(node.parent);
  let rows = 0;
  for (let batch: RecordBatch | undefined = first; batch !== undefined; ) {
    await aggregator.insert(batch);
    rows += batch.numRows;
    if (releaseInserted) releaseNativeBatch(batch);
    if (rows >= skip.probeRows) {
      if (aggregator.metrics.spillCount === 0 && aggregator.inMemory.groups > skip.ratio * rows) {
        const passThrough = passThroughPlan(batch.schema, node.groupBy, node.aggregates, aggregator.schema);
        if (passThrough) return passThrough;
      }
      break;
    }
    const next = await rest.next();
    batch = next.done ? undefined : next.value;
    if (batch === undefined) return undefined;
  }
  if (insertRest) await insertRest();
  else await aggregator.insertAll(rest, { releaseInserted });
  return undefined;
}

/** The schema a node's output would have, where the plan says it without data: a shuffle's. */
function schemaOfEmpty(node: PlanNode): Schema | undefined {
  switch (node.kind) {
    case 'shuffled':
      return node.dependency.schema === undefined ? undefined : decodeSchema(node.dependency.schema);
    case 'sort':
    case 'filter':
    case 'persist':
      return schemaOfEmpty(node.parent);
    default:
      return undefined;
  }
}

export function decodeSchema(base64: string): Schema {
  return RecordBatchReader.from(Buffer.from(base64, 'base64')).open().schema;
}

/** The rows of `batch` where `mask` is truthy, as zero-copy slices of its runs of kept rows. */
function keptRuns(batch: RecordBatch, mask: ArrayLike<boolean | number>): RecordBatch[] {
  if (mask?.length !== batch.numRows) {
    throw new TypeError(`filter's function must return one flag per row: ${batch.numRows} rows, got ${String(mask?.length)}`);
  }
  const slices: RecordBatch[] = [];
  for (let i = 0; i < mask.length; ) {
    if (!mask[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < mask.length && mask[j]) j++;
    slices.push(batch.slice(i, j));
    i = j;
  }
  return slices;
}

function addReadMetrics(into: ShuffleReadMetrics, from: ShuffleReadMetrics, elapsedMs: number): void {
  into.localBytesRead += from.localBytesRead;
  into.remoteBytesRead += from.remoteBytesRead;
  into.localBlocksFetched += from.localBlocksFetched;
  into.remoteBlocksFetched += from.remoteBlocksFetched;
  into.fetchWaitTimeMs += from.fetchWaitTimeMs;
  into.peakBytesInFlight = Math.max(into.peakBytesInFlight, from.peakBytesInFlight);
  into.recordsRead += from.recordsRead;
  into.readTimeMs += elapsedMs;
}
