/**
 * Where a plan's input comes from, split into partitions, named by data only:
 *   table      an Arrow Table registered with the session (by id); split by batches
 *   batches    an (async) iterable of record batches registered with the session: one
 *              partition, readable once (a retried task that needs it again fails, saying so)
 *   ipcFile    an Arrow IPC file: the file format is split by record-batch ranges, read with
 *              random access; the stream format is one partition read front to back. Neither
 *              is ever read whole into memory.
 *   generator  WORKLOADS.md's seeded data (api/generator.ts), split by row ranges
 *
 * A split may be read as a spread of its batches (`batchesPerSplit`: at most that many, evenly
 * spaced from its first to its last): the range partitioner's sampling reads that way. Tables,
 * IPC files in the file format and the generator seek to those batches; a stream or a batch
 * iterable is read whole.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { AsyncRecordBatchFileReader, RecordBatchReader, type RecordBatch, type Schema, type Table } from 'apache-arrow';
import { InvalidArgumentError, IoError } from '../errors.js';
import type { NativeColumnType } from '../native/addon.js';
import { GENERATOR_BATCH_ROWS, generate, type WorkloadKind } from '../api/generator.js';
import { IpcRangeInput, nativeIpcTypes, readIpcRange } from '../storage/nativeIpc.js';
import { registerLz4 } from '../storage/serialization.js';

export type SourceDescriptor =
  | { readonly kind: 'table'; readonly registryId: number; readonly numPartitions: number }
  | { readonly kind: 'batches'; readonly registryId: number; readonly numPartitions: 1 }
  | { readonly kind: 'ipcFile'; readonly path: string; readonly format: 'file' | 'stream'; readonly numBatches: number; readonly numPartitions: number }
  | {
      readonly kind: 'generator';
      readonly workload: WorkloadKind;
      readonly rows: number;
      readonly groups?: number;
      readonly seed?: number;
      readonly batchRows?: number;
      readonly numPartitions: number;
    };

/** What the session keeps for sources that are live objects. */
export interface SourceRegistry {
  table(id: number): Table;
  /** The batches, once; throws if they were taken before. */
  takeBatches(id: number): Iterable<RecordBatch> | AsyncIterable<RecordBatch>;
}

/** [start, end) of `total` items for partition `p` of `n`, as even as can be. */
export function splitRange(total: number, p: number, n: number): [number, number] {
  return [Math.floor((total * p) / n), Math.floor((total * (p + 1)) / n)];
}

const ARROW_MAGIC = 'ARROW1';

/** Reads the head of an IPC file: its format, and for the file format its batch count. */
export async function inspectIpcFile(path: string): Promise<{ format: 'file' | 'stream'; numBatches: number; schema: Schema }> {
  registerLz4();
  const head = Buffer.alloc(6);
  try {
    const handle = await open(path, 'r');
    try {
      await handle.read(head, 0, 6, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new IoError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    if (head.toString('latin1') === ARROW_MAGIC) {
      const reader = await openFileReader(path);
      try {
        return { format: 'file', numBatches: reader.numRecordBatches, schema: reader.schema };
      } finally {
        await reader.cancel();
      }
    }
    const stream = createReadStream(path, { highWaterMark: 1 << 16 });
    try {
      const reader = await RecordBatchReader.from(stream);
      await reader.open();
      return { format: 'stream', numBatches: -1, schema: reader.schema };
    } finally {
      stream.destroy();
    }
  } catch (error) {
    throw new InvalidArgumentError(`${path} is not an Arrow IPC file or stream: ${(error as Error).message}`);
  }
}

/** A file-format reader that owns its file handle: cancel() closes it. */
async function openFileReader(path: string): Promise<AsyncRecordBatchFileReader> {
  const handle = await open(path, 'r');
  let reader: AsyncRecordBatchFileReader;
  try {
    reader = (await AsyncRecordBatchFileReader.from(handle)) as AsyncRecordBatchFileReader;
  } catch (error) {
    await handle.close();
    throw error;
  }
  try {
    await reader.open();
  } catch (error) {
    await reader.cancel();
    throw error;
  }
  return reader;
}

/** The part of apache-arrow's file footer read here (the class is not exported). */
interface IpcFileFooter {
  getRecordBatch(index: number): { offset: number; metaDataLength: number; bodyLength: number } | null;
}

/** Indices [start, end), or at most `limit` of them evenly spread from the first to the last. */
export function spreadIndices(start: number, end: number, limit?: number): number[] {
  const count = Math.max(0, end - start);
  if (limit === undefined || count <= limit) return Array.from({ length: count }, (_, i) => start + i);
  if (limit <= 1) return [start];
  return Array.from({ length: limit }, (_, i) => start + Math.round((i * (count - 1)) / (limit - 1)));
}

/** The byte ranges of the record batches `indices` (ascending) of an IPC file, adjacent ones
 *  merged. */
function adjacentRuns(footer: IpcFileFooter, indices: readonly number[]): { offset: number; length: number }[] {
  const runs: { offset: number; length: number }[] = [];
  for (const i of indices) {
    const block = footer.getRecordBatch(i);
    if (!block) continue;
    const length = block.metaDataLength + block.bodyLength;
    const last = runs[runs.length - 1];
    if (last && last.offset + last.length === block.offset) last.length += length;
    else runs.push({ offset: block.offset, length });
  }
  return runs;
}

/** The byte runs of the record batches `indices` of a file-format reader's file, adjacent ones
 *  merged, with the native column types of its schema; undefined when native code cannot
 *  decode the schema. */
function nativeRuns(reader: AsyncRecordBatchFileReader, indices: readonly number[]): { types: NativeColumnType[]; runs: { offset: number; length: number }[] } | undefined {
  const types = nativeIpcTypes(reader.schema);
  if (!types || !reader.footer) return undefined;
  return { types, runs: adjacentRuns(reader.footer, indices) };
}

/**
 * Split `partition` of an IPC file in the file format as one native reader of its batches, for
 * an operator to take natively (IpcRangeInput): when native code decodes the schema and the
 * split has batches, which are adjacent (they are unless a sample spreads them). Undefined
 * otherwise: read the split with readSplit.
 */
export async function openNativeSplit(source: SourceDescriptor, partition: number, onCpuNanos: (nanos: number) => void): Promise<IpcRangeInput | undefined> {
  if (source.kind !== 'ipcFile' || source.format !== 'file') return undefined;
  const reader = await openFileReader(source.path);
  try {
    const [start, end] = splitRange(source.numBatches, partition, source.numPartitions);
    const native = nativeRuns(reader, spreadIndices(start, end));
    if (native?.runs.length !== 1) return undefined;
    const run = native.runs[0]!;
    return new IpcRangeInput(source.path, run.offset, run.length, reader.schema, native.types, onCpuNanos);
  } finally {
    await reader.cancel();
  }
}

/** The batches of split `partition` of a source. */
export async function* readSplit(
  source: SourceDescriptor,
  partition: number,
  registry: SourceRegistry,
  /** CPU time of native decoding (IPC files), as it is spent. */
  onCpuNanos?: (nanos: number) => void,
  /** Read at most this many batches of the split, evenly spread, where the source can seek. */
  batchesPerSplit?: number,
): AsyncGenerator<RecordBatch> {
  switch (source.kind) {
    case 'table': {
      const batches = registry.table(source.registryId).batches;
      const [start, end] = splitRange(batches.length, partition, source.numPartitions);
      for (const i of spreadIndices(start, end, batchesPerSplit)) yield batches[i]!;
      return;
    }
    case 'batches':
      yield* registry.takeBatches(source.registryId);
      return;
    case 'generator': {
      const [start, end] = splitRange(source.rows, partition, source.numPartitions);
      const options = {
        ...(source.seed !== undefined ? { seed: source.seed } : {}),
        ...(source.groups !== undefined ? { groups: source.groups } : {}),
        ...(source.batchRows !== undefined ? { batchRows: source.batchRows } : {}),
      };
      if (batchesPerSplit === undefined) {
        yield* generate(source.workload, { rows: end - start, firstRow: start, ...options });
        return;
      }
      // The split's batches are the generator's own: batchRows rows from its first row on.
      const batchRows = source.batchRows ?? GENERATOR_BATCH_ROWS;
      for (const b of spreadIndices(0, Math.ceil((end - start) / batchRows), batchesPerSplit)) {
        const first = start + b * batchRows;
        yield* generate(source.workload, { rows: Math.min(batchRows, end - first), firstRow: first, ...options });
      }
      return;
    }
    case 'ipcFile': {
      registerLz4();
      if (source.format === 'file') {
        const reader = await openFileReader(source.path);
        const [start, end] = splitRange(source.numBatches, partition, source.numPartitions);
        const indices = spreadIndices(start, end, batchesPerSplit);
        const native = nativeRuns(reader, indices);
        if (native) {
          // Decoded natively: the batches' messages, runs of adjacent ones read as one range.
          const schema = reader.schema;
          await reader.cancel();
          for (const run of native.runs) yield* readIpcRange(source.path, run.offset, run.length, schema, native.types, onCpuNanos);
          return;
        }
        try {
          for (const i of indices) {
            const batch = await reader.readRecordBatch(i);
            if (batch) yield batch;
          }
        } finally {
          await reader.cancel();
        }
      } else {
        const stream = createReadStream(source.path, { highWaterMark: 1 << 20 });
        try {
          for await (const batch of await RecordBatchReader.from(stream)) yield batch;
        } finally {
          stream.destroy();
        }
      }
      return;
    }
  }
}
