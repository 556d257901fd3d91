/**
 * Control-plane costs of the memory layer: what one grant, one release and one page cost.
 * The engine asks for memory once per batch, never per row, so these bound the overhead per
 * batch. Run with `npm run bench`; it prints a table (medians, in nanoseconds) and writes
 * build/bench/memory.json.
 */
import { writeFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { resolveConfig } from '../src/config/options.js';
import { MemoryConsumer } from '../src/memory/MemoryConsumer.js';
import { nativeAllocator } from '../src/memory/MemoryBlock.js';
import { MemoryMode } from '../src/memory/MemoryMode.js';
import { TaskMemoryManager } from '../src/memory/TaskMemoryManager.js';
import { UnifiedMemoryManager } from '../src/memory/UnifiedMemoryManager.js';

class BenchConsumer extends MemoryConsumer {
  async spill(): Promise<number> {
    return 0;
  }
  page(size: number) {
    return this.allocatePage(size);
  }
  release(page: Awaited<ReturnType<BenchConsumer['page']>>): void {
    this.freePage(page);
  }
}

const mm = UnifiedMemoryManager.fromConfig(resolveConfig({ 'memory.offHeap.size': '4g', 'executor.cores': 2 }));
const tmm = new TaskMemoryManager(mm, 0);
const consumer = new BenchConsumer(tmm, MemoryMode.OFF_HEAP, 4096);
const OFF = MemoryMode.OFF_HEAP;

const bench = new Bench({ time: 500, warmupTime: 100 });
bench
  .add('MemoryManager acquire + release 1 MiB (one task)', async () => {
    const got = await mm.acquireExecutionMemory(2 ** 20, 7, OFF);
    mm.releaseExecutionMemory(got, 7, OFF);
  })
  .add('TaskMemoryManager acquire + release 1 MiB', async () => {
    const got = await tmm.acquireExecutionMemory(2 ** 20, consumer);
    tmm.releaseExecutionMemory(got, consumer);
  })
  .add('page allocate + free, 64 KiB (granted, mmap)', async () => {
    consumer.release(await consumer.page(64 * 2 ** 10));
  })
  .add('page allocate + free, 1 MiB (granted, mmap)', async () => {
    consumer.release(await consumer.page(2 ** 20));
  })
  .add('page allocate + free, 4 KiB (granted, malloc)', async () => {
    consumer.release(await consumer.page(4096));
  })
  .add('native allocator allocate + free 1 MiB (no accounting)', () => {
    nativeAllocator.free(nativeAllocator.allocate(2 ** 20)!);
  });

await bench.run();

const rows = bench.tasks.map((task) => {
  const result = task.result as unknown as { latency?: { p50?: number; samplesCount?: number }; throughput?: { mean?: number } };
  return {
    benchmark: task.name,
    'median ns': Math.round((result.latency?.p50 ?? Number.NaN) * 1e6),
    'ops/s': Math.round(result.throughput?.mean ?? Number.NaN),
    samples: result.latency?.samplesCount ?? 0,
  };
});
console.table(rows);
writeFileSync(new URL('../memory.json', import.meta.url), JSON.stringify(rows, null, 2));
const leaked = tmm.cleanUpAllAllocatedMemory();
if (leaked !== 0 || nativeAllocator.stats().liveBytes !== 0) {
  console.error(`benchmark leaked: ${leaked} bytes of grants, ${nativeAllocator.stats().liveBytes} native bytes`);
  process.exit(1);
}
