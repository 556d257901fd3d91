/**
 * Storage throughput: what caching a block costs at each storage level, and what Arrow IPC
 * serialization costs with and without LZ4_FRAME. Engine-only (DuckDB and Polars have no
 * block manager to compare with); the canonical workloads' data is the input.
 *
 * Run with `npm run bench:storage [-- --rows N --runs R]`. Prints medians of R runs as MB/s of
 * Arrow buffer bytes (input size / time) and writes build/bench/storage.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { UnifiedMemoryManager } from '../src/memory/UnifiedMemoryManager.js';
import { BlockId } from '../src/storage/BlockId.js';
import { BlockManager } from '../src/storage/BlockManager.js';
import { batchBytes, deserialize, serializeBatches } from '../src/storage/serialization.js';
import { StorageLevel } from '../src/storage/StorageLevel.js';
import { generate, type WorkloadKind } from '../src/api/generator.js';
import { option, root } from './support/harness.js';
import { median } from './support/workerIo.js';

const rows = Number(option('rows', '4000000'));
const runs = Number(option('runs', '5'));
const GiB = 2 ** 30;

async function timed(action: () => Promise<unknown> | unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

interface Row {
  data: string;
  what: string;
  mbPerSecond: number;
  seconds: number;
  note: string;
}
const results: Row[] = [];

async function measure(data: string, what: string, inputBytes: number, action: () => Promise<unknown> | unknown, note = ''): Promise<void> {
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) seconds.push(await timed(action));
  const s = median(seconds);
  results.push({ data, what, mbPerSecond: inputBytes / 2 ** 20 / s, seconds: s, note });
}

function print(): void {
  for (const r of results) console.error(`${r.data.padEnd(10)} ${r.what.padEnd(26)} ${r.mbPerSecond.toFixed(0).padStart(8)} MB/s  ${r.note}`);
}

for (const kind of ['keyPayload', 'stringKey'] as WorkloadKind[]) {
  const batches: RecordBatch[] = [...generate(kind, { rows: kind === 'stringKey' ? rows / 4 : rows })];
  const inputBytes = batches.reduce((sum, b) => sum + batchBytes(b), 0);
  console.error(`${kind}: ${batches.length} batches, ${(inputBytes / 2 ** 20).toFixed(0)} MiB of Arrow buffers, median of ${runs}`);

  for (const compression of ['lz4', 'none'] as const) {
    const bytes = serializeBatches(batches, compression, 2 ** 20);
    const ratio = `${(bytes.size / 2 ** 20).toFixed(1)} MiB serialized (${((100 * bytes.size) / inputBytes).toFixed(0)}%)`;
    await measure(kind, `serialize, ${compression}`, inputBytes, () => serializeBatches(batches, compression, 2 ** 20), ratio);
    await measure(kind, `deserialize, ${compression}`, inputBytes, () => {
      for (const batch of deserialize(bytes.chunks)) void batch.numRows;
    });
  }

  const levels: Array<[string, StorageLevel, 'lz4' | 'none']> = [
    ['MEMORY_ONLY', StorageLevel.MEMORY_ONLY, 'lz4'],
    ['MEMORY_ONLY_SER (lz4)', StorageLevel.MEMORY_ONLY_SER, 'lz4'],
    ['OFF_HEAP (lz4)', StorageLevel.OFF_HEAP, 'lz4'],
    ['DISK_ONLY (lz4)', StorageLevel.DISK_ONLY, 'lz4'],
    ['DISK_ONLY (none)', StorageLevel.DISK_ONLY, 'none'],
  ];
  for (const [name, level, compression] of levels) {
    const mm = new UnifiedMemoryManager({ numCores: 1, maxHeapMemory: 4 * GiB, onHeapStorageRegionSize: 2 * GiB, maxOffHeapMemory: 4 * GiB, offHeapStorageRegionSize: 2 * GiB });
    const bm = new BlockManager(mm, { localDirs: [join(tmpdir())], compression });
    let n = 0;
    let id = BlockId.rdd(0, 0);
    await measure(kind, `put ${name}`, inputBytes, async () => {
      await bm.removeBlock(id);
      id = BlockId.rdd(0, ++n);
      const back = await bm.putIterator(id, batches, level);
      if (back) throw new Error(`${name}: the block did not fit`);
    });
    const status = bm.getStatus(id)!;
    results.at(-1)!.note = `${((status.memSize + status.diskSize) / 2 ** 20).toFixed(1)} MiB stored`;
    await measure(kind, `get ${name}`, inputBytes, async () => {
      for await (const batch of (await bm.get(id))!) void batch.numRows;
    });
    await bm.close();
  }
}

print();
const peakRssBytes = process.resourceUsage().maxRSS * 1024;
console.error(`peak RSS of the whole run: ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB (inputs of both data sets and every level's block held at once)`);
mkdirSync(join(root, 'build', 'bench'), { recursive: true });
writeFileSync(join(root, 'build', 'bench', 'storage.json'), JSON.stringify({ rows, runs, peakRssBytes, results }, null, 2));
console.log(JSON.stringify(results));
