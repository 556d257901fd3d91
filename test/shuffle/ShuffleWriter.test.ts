import { readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { makeData, RecordBatch, Schema, Struct } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { FetchFailedError } from '../../src/errors.js';
import { PartitionerKind, type NativePartitioner } from '../../src/native/addon.js';
import { IndexShuffleBlockResolver } from '../../src/shuffle/IndexShuffleBlockResolver.js';
import { MapOutputTracker } from '../../src/shuffle/MapOutputTracker.js';
import { fetchShuffleBlocks, fileSegmentChunks, groupFetchRequests } from '../../src/shuffle/ShuffleBlockFetcher.js';
import { emptyShuffleReadMetrics, LocalShuffleClient, readShuffleBlocks } from '../../src/shuffle/ShuffleReader.js';
import { chooseShuffleWriter, type ShuffleWriterKind, writeMapOutput } from '../../src/shuffle/ShuffleWriter.js';
import { scratchDir, testDiskBlockManager } from '../support/leaks.js';
import { canonical, rowsOf } from '../support/referenceSort.js';
import { task } from '../sort/helpers.js';
import { TestMemoryConsumer } from '../support/TestMemoryConsumer.js';
import { asyncOf, keyPayloadBatches, keyPayloadSchema } from './helpers.js';

const hash = (n: number): NativePartitioner => ({ kind: PartitionerKind.HASH, numPartitions: n, hashColumns: [0] });

async function writeAndRead(
  inputs: RecordBatch[][],
  numPartitions: number,
  kind: ShuffleWriterKind,
  budget: number,
): Promise<{ partitions: RecordBatch[][]; spills: number; peakMemory: number; bytesWritten: number; resolver: IndexShuffleBlockResolver; tracker: MapOutputTracker; cleanup: () => Promise<void> }> {
  const schema = inputs[0]![0]!.schema;
  const disk = testDiskBlockManager();
  const resolver = new IndexShuffleBlockResolver(disk);
  const tracker = new MapOutputTracker();
  tracker.registerShuffle(0, inputs.length, numPartitions);
  let spills = 0;
  let peakMemory = 0;
  let bytesWritten = 0;
  for (const [mapIndex, batches] of inputs.entries()) {
    const tmm = task(budget, 16 * 1024);
    const { lengths, metrics } = await writeMapOutput(tmm, disk, resolver, {
      shuffleId: 0,
      mapId: 100 + mapIndex,
      numPartitions,
      schema,
      partitioner: hash(numPartitions),
      compression: 'lz4',
      kind,
    }, asyncOf(batches));
    expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
    spills += metrics.spillCount;
    peakMemory = Math.max(peakMemory, metrics.peakExecutionMemory);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(metrics.bytesWritten);
    bytesWritten += metrics.bytesWritten;
    tracker.registerMapOutput(0, { executorId: 'e1', mapId: 100 + mapIndex, mapIndex, sizes: lengths });
  }
  const client = new LocalShuffleClient(() => resolver);
  const partitions: RecordBatch[][] = [];
  for (let r = 0; r < numPartitions; r++) {
    // Read twice: decoded natively (the schema known) and by apache-arrow's reader (as any
    // other Arrow reader would), which must agree on every segment.
    const [native, arrow] = await Promise.all(
      [schema, undefined].map(async (schema) => {
        const out: RecordBatch[] = [];
        for await (const batch of readShuffleBlocks(tracker.blocksFor(0, r, r + 1), schema, client, { maxBytesInFlight: 48 << 20, localExecutorId: 'e1' }, emptyShuffleReadMetrics())) {
          out.push(batch);
        }
        return out;
      }),
    );
    expect(rowsOf(native!)).toEqual(rowsOf(arrow!));
    partitions.push(native!);
  }
  const cleanup = async (): Promise<void> => {
    for (const status of tracker.outputs(0)) await resolver.removeDataByMap(0, status.mapId);
  };
  return { partitions, spills, peakMemory, bytesWritten, resolver, tracker, cleanup };
}

describe('shuffle writers', () => {
  it('AC-SH-01 writer choice', () => {
    expect(chooseShuffleWriter({ mapSideCombine: false, numPartitions: 200, serializerRelocatable: false })).toBe('bypass');
    expect(chooseShuffleWriter({ mapSideCombine: false, numPartitions: 201, serializerRelocatable: true })).toBe('unsafe');
    expect(chooseShuffleWriter({ mapSideCombine: false, numPartitions: 201, serializerRelocatable: false })).toBe('sort');
    expect(chooseShuffleWriter({ mapSideCombine: true, numPartitions: 10, serializerRelocatable: true })).toBe('sort');
    expect(chooseShuffleWriter({ mapSideCombine: false, numPartitions: 16_777_217, serializerRelocatable: true })).toBe('sort');
  });

  for (const [kind, budget, partitions] of [
    ['bypass', 8 << 20, 7],
    ['bypass', 160 * 1024, 7],
    ['unsafe', 8 << 20, 7],
    ['unsafe', 160 * 1024, 300],
  ] as const) {
    it(`${kind} writer, ${partitions} partitions, ${budget} bytes, seed 21: every row once, equal keys in one partition`, async () => {
      const inputs = [keyPayloadBatches(21, 9000, 1000, 400), keyPayloadBatches(22, 5000, 700, 400)];
      const { partitions: out, spills, peakMemory, cleanup } = await writeAndRead(inputs, partitions, kind, budget);
      try {
        // The unsafe writer spills when its pages fill the budget; the bypass writer never
        // sorts, and makes do with a smaller buffer (fewer rows per message) instead.
        if (budget < 1 << 20 && kind === 'unsafe') expect(spills).toBeGreaterThan(0);
        expect(peakMemory).toBeGreaterThan(0);
        expect(peakMemory).toBeLessThanOrEqual(budget);
        const seen = new Map<string, number>();
        out.forEach((batches, p) => {
          for (const row of rowsOf(batches)) {
            const key = String(row[0]);
            expect(seen.get(key) ?? p, `key ${key}`).toBe(p);
            seen.set(key, p);
          }
        });
        expect(canonical(rowsOf(out.flat())).sort()).toEqual(canonical(rowsOf(inputs.flat())).sort());
      } finally {
        await cleanup();
      }
    });
  }

  it('the bypass writer gathers rows across input batches: one message per partition per map task when they fit (seed 24)', async () => {
    const inputs = [keyPayloadBatches(24, 9000, 500, 400), keyPayloadBatches(25, 3000, 300, 400)];
    const { partitions: out, cleanup } = await writeAndRead(inputs, 7, 'bypass', 8 << 20);
    try {
      // Each batch read is one message; 18 and 10 input batches would make up to 28 a partition.
      for (const batches of out) expect(batches.length).toBeLessThanOrEqual(inputs.length);
      expect(canonical(rowsOf(out.flat())).sort()).toEqual(canonical(rowsOf(inputs.flat())).sort());
    } finally {
      await cleanup();
    }
  });

  for (const kind of ['bypass', 'unsafe'] as const) {
    it(`${kind} writer: equal columns are written once, and both readers read them (seeds 27, 28)`, async () => {
      // A partial aggregation passing rows through sends one column as sum, min and max
      // (arrow_ipc.h, shared buffers). Widen (key, payload) with copies of both, or with other
      // columns of the same types and sizes.
      const base = keyPayloadBatches(27, 6000, 1000, 300);
      const others = keyPayloadBatches(28, 6000, 1000, 300);
      const widened = (extra: (i: number) => RecordBatch): RecordBatch[] =>
        base.map((batch, i) => {
          const fields = [...batch.schema.fields, ...['key2', 'payload2'].map((name, c) => batch.schema.fields[c]!.clone({ name }))];
          const children = [...batch.data.children, ...extra(i).data.children];
          return new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: batch.numRows, nullCount: 0, children }));
        });
      const sizes: number[] = [];
      for (const inputs of [base, widened((i) => base[i]!), widened((i) => others[i]!)]) {
        const { partitions: out, bytesWritten, cleanup } = await writeAndRead([inputs], 5, kind, 8 << 20);
        try {
          expect(canonical(rowsOf(out.flat())).sort()).toEqual(canonical(rowsOf(inputs)).sort());
          sizes.push(bytesWritten);
        } finally {
          await cleanup();
        }
      }
      const [alone, copied, distinct] = sizes as [number, number, number];
      // Copies cost their metadata only (nodes, buffer entries, the schema's fields).
      expect(copied - alone).toBeLessThan((distinct - alone) / 4);
    });
  }

  it('the bypass writer gives its gathered pages back when another consumer of its task is short of memory (seed 26)', async () => {
    const tmm = task(512 * 1024, 16 * 1024);
    const other = new TestMemoryConsumer(tmm);
    const [first, second] = [keyPayloadBatches(26, 6000, 6000, 400)[0]!, keyPayloadBatches(27, 6000, 6000, 400)[0]!];
    let heldBefore = 0;
    let granted = 0;
    async function* source(): AsyncGenerator<RecordBatch> {
      yield first;
      // The writer holds the first batch's rows in its pages now; the other consumer needs
      // more than what is left free, which only the writer can give back.
      heldBefore = tmm.getMemoryConsumptionForThisTask();
      granted = await other.acquireMemory(400 * 1024);
      other.free(granted);
      yield second;
    }
    const disk = testDiskBlockManager();
    const resolver = new IndexShuffleBlockResolver(disk);
    const { lengths, metrics } = await writeMapOutput(tmm, disk, resolver, { shuffleId: 5, mapId: 1, numPartitions: 3, schema: keyPayloadSchema, partitioner: hash(3), compression: 'lz4', kind: 'bypass' }, source());
    try {
      expect(heldBefore).toBeGreaterThan(512 * 1024 - 400 * 1024);
      expect(granted).toBe(400 * 1024);
      expect(metrics.spillCount).toBeGreaterThanOrEqual(1);
      expect(metrics.recordsWritten).toBe(12_000);
      expect(tmm.cleanUpAllAllocatedMemory()).toBe(0);
    } finally {
      if (lengths.some((length) => length > 0)) await resolver.removeDataByMap(5, 1);
    }
  });

  it('a request that fails while the consumer holds the last good block still fails the read', async () => {
    const good = Uint8Array.of(1, 2, 3, 4);
    let failBlock: (error: Error) => void = () => undefined;
    const client = {
      fetch: (block: { mapId: number }) =>
        block.mapId === 1
          ? Promise.resolve({ bytes: good, checksum: crc32(good) })
          : new Promise<never>((_, reject) => (failBlock = reject)),
    };
    const block = (mapId: number) => ({ executorId: 'other', shuffleId: 0, mapId, mapIndex: mapId, reduceId: 0, size: 4 });
    // Each block is its own request (a fifth of 8 bytes is below a block's size); both fit in flight.
    const segments = fetchShuffleBlocks([block(1), block(2)], client, { maxBytesInFlight: 8, localExecutorId: 'e1' }, emptyShuffleReadMetrics());
    const first = await segments.next();
    expect(first.done).toBe(false);
    failBlock(new Error('connection reset'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(segments.next()).rejects.toBeInstanceOf(FetchFailedError);
  });

  it('index file: N + 1 big-endian offsets from 0; segments are standalone IPC streams', async () => {
    const { resolver, tracker, cleanup } = await writeAndRead([keyPayloadBatches(23, 2000, 500, 50)], 5, 'bypass', 8 << 20);
    try {
      const index = readFileSync(resolver.indexFile(0, 100));
      expect(index.byteLength).toBe(6 * 8);
      const offsets = Array.from({ length: 6 }, (_, i) => Number(index.readBigInt64BE(i * 8)));
      expect(offsets[0]).toBe(0);
      expect(offsets.slice(1).map((o, i) => o - offsets[i]!)).toEqual(tracker.partitionSizes(0));
      expect(offsets[5]).toBe(statSync(resolver.dataFile(0, 100)).size);
    } finally {
      await cleanup();
    }
  });

  it('first writer wins: a second attempt adopts the committed lengths and leaves no file', async () => {
    const disk = testDiskBlockManager();
    const resolver = new IndexShuffleBlockResolver(disk);
    const first = writeFileSync;
    const tmp1 = disk.createTempShuffleBlock().path;
    first(tmp1, new Uint8Array([1, 2, 3, 4, 5]));
    expect(await resolver.writeMetadataFileAndCommit(3, 9, [2, 3], [0, 0], tmp1)).toEqual([2, 3]);
    const tmp2 = disk.createTempShuffleBlock().path;
    writeFileSync(tmp2, new Uint8Array([9, 9, 9]));
    expect(await resolver.writeMetadataFileAndCommit(3, 9, [1, 2], [0, 0], tmp2)).toEqual([2, 3]);
    expect(readFileSync(resolver.dataFile(3, 9))).toEqual(Buffer.from([1, 2, 3, 4, 5]));
    expect(await resolver.checkIndexAndDataFile(resolver.indexFile(3, 9), resolver.dataFile(3, 9), 2)).toEqual([2, 3]);
    expect(await resolver.checkIndexAndDataFile(resolver.indexFile(3, 9), resolver.dataFile(3, 9), 3)).toBeNull();
    await resolver.removeDataByMap(3, 9);
  });

  it('segments come from the index cache as from the files: a resolver that did not commit reads them; a short index is SPARK-22982', async () => {
    const disk = testDiskBlockManager();
    const writer = new IndexShuffleBlockResolver(disk);
    const tmp = disk.createTempShuffleBlock().path;
    writeFileSync(tmp, new Uint8Array(12));
    await writer.writeMetadataFileAndCommit(4, 7, [5, 0, 7], [11, 0, 4_000_000_000], tmp);
    const reader = new IndexShuffleBlockResolver(disk);
    try {
      for (const [start, end] of [[0, 1], [1, 2], [2, 3], [0, 3], [1, 3]] as const) {
        const cached = await writer.getBlockData(4, 7, start, end);
        expect(await reader.getBlockData(4, 7, start, end)).toEqual(cached);
      }
      expect(await reader.getBlockData(4, 7, 1, 3)).toMatchObject({ offset: 5, length: 7, lengths: [0, 7], checksums: [0, 4_000_000_000] });
      // A resolver that reads the files checks them: cut the index short.
      writeFileSync(reader.indexFile(4, 7), readFileSync(reader.indexFile(4, 7)).subarray(0, 3 * 8));
      await expect(new IndexShuffleBlockResolver(disk).getBlockData(4, 7, 2, 3)).rejects.toThrow(/SPARK-22982/);
      // Removing the output forgets it: its files are gone, and so is the cached index.
      await writer.removeDataByMap(4, 7);
      await expect(writer.getBlockData(4, 7, 0, 1)).rejects.toThrow(/ENOENT/);
    } finally {
      await writer.removeDataByMap(4, 7);
    }
  });

  it('AC-SH-04 a corrupted or deleted segment is a fetch failure, not wrong rows', async () => {
    const { resolver, tracker, cleanup } = await writeAndRead([keyPayloadBatches(24, 3000, 1000, 100)], 3, 'unsafe', 8 << 20);
    try {
      const data = resolver.dataFile(0, 100);
      const bytes = readFileSync(data);
      bytes[bytes.byteLength - 20]! ^= 0xff;
      writeFileSync(data, bytes);
      const client = new LocalShuffleClient(() => resolver);
      const read = async (): Promise<void> => {
        for (let r = 0; r < 3; r++) {
          for await (const _ of readShuffleBlocks(tracker.blocksFor(0, r, r + 1), keyPayloadSchema, client, { maxBytesInFlight: 1 << 20, localExecutorId: 'e1' }, emptyShuffleReadMetrics())) {
            // drain
          }
        }
      };
      const error = await read().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FetchFailedError);
      expect((error as FetchFailedError).mapId).toBe(100);
      await resolver.removeDataByMap(0, 100);
      const missing = await read().catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(FetchFailedError);
    } finally {
      await cleanup();
    }
  });

  it('fetch requests are cut at maxBytesInFlight / 5 per executor, and bytes in flight stay under the cap', async () => {
    const blocks = [1, 2, 3, 4, 5, 6].map((i) => ({ executorId: i % 2 ? 'a' : 'b', shuffleId: 0, mapId: i, mapIndex: i, reduceId: 0, size: 10 }));
    const requests = groupFetchRequests(blocks, 20, 100);
    expect(requests.map((r) => [r.executorId, r.blocks.length])).toEqual([['a', 2], ['a', 1], ['b', 2], ['b', 1]]);
    expect(groupFetchRequests(blocks, 1000, 2).map((r) => r.blocks.length)).toEqual([2, 1, 2, 1]);
    expect(() => groupFetchRequests([{ ...blocks[0]!, size: 0 }], 10, 10)).toThrow('Zero-sized blocks should be excluded.');

    const { resolver, tracker, cleanup } = await writeAndRead(
      [keyPayloadBatches(25, 4000, 500, 1000), keyPayloadBatches(26, 4000, 500, 1000), keyPayloadBatches(27, 4000, 500, 1000)],
      2,
      'bypass',
      8 << 20,
    );
    try {
      const blocksOf0 = tracker.blocksFor(0, 0, 1);
      const largest = Math.max(...blocksOf0.map((b) => b.size));
      const metrics = emptyShuffleReadMetrics();
      let rows = 0;
      for await (const batch of readShuffleBlocks(blocksOf0, keyPayloadSchema, new LocalShuffleClient(() => resolver), { maxBytesInFlight: largest + 1, localExecutorId: 'e1' }, metrics)) {
        rows += batch.numRows;
      }
      expect(rows).toBeGreaterThan(0);
      expect(metrics.peakBytesInFlight).toBeLessThanOrEqual(largest + 1);
      expect(metrics.localBlocksFetched).toBe(3);
    } finally {
      await cleanup();
    }
  });

  it('a local segment is read as a stream of chunks of at most 1 MiB, and a file shorter than its segment is an error (seed 23)', async () => {
    const bytes = new Uint8Array((5 << 20) / 2 + 17);
    let x = 23;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const path = join(scratchDir, 'segment-test.data');
    writeFileSync(path, bytes);
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of fileSegmentChunks({ path, offset: 1000, length: bytes.length - 2000 })) chunks.push(chunk);
      expect(chunks.every((chunk) => chunk.byteLength <= 1 << 20)).toBe(true);
      expect(chunks.length).toBe(3);
      expect(Buffer.concat(chunks).equals(Buffer.from(bytes.subarray(1000, bytes.length - 1000)))).toBe(true);
      const short = async (): Promise<void> => {
        for await (const chunk of fileSegmentChunks({ path, offset: bytes.length - 10, length: 20 })) void chunk;
      };
      await expect(short()).rejects.toThrow(/ended 10 bytes before the range did/);
    } finally {
      rmSync(path);
    }
  });
});
