/**
 * The TaskRunner's lifecycle (spark-semantics §4.1, AC-EX-03 and AC-EX-04), observed through the
 * messages an executor sends its driver: an executor built directly, with a captured wire.
 */
import { Table } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { resolveConfig, type TungstenOptions } from '../../src/config/options.js';
import { Executor } from '../../src/executor/Executor.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { decodeMessage, encodeMessage, type Message, type TaskDescription } from '../../src/scheduler/messages.js';
import { IndexShuffleBlockResolver } from '../../src/shuffle/IndexShuffleBlockResolver.js';
import { LocalShuffleClient } from '../../src/shuffle/ShuffleReader.js';
import { BlockId } from '../../src/storage/BlockId.js';
import { StorageLevel } from '../../src/storage/StorageLevel.js';
import { blockManager, bytesBatch, storeMemory } from '../storage/helpers.js';
import { keyPayloadBatches } from '../shuffle/helpers.js';

type StatusUpdate = Extract<Message, { type: 'StatusUpdate' }>;

function executor(options: TungstenOptions, beforeTaskBody: (task: TaskDescription) => void | Promise<void>) {
  const config = resolveConfig(options);
  const mm = storeMemory(16 << 20);
  const bm = blockManager(mm);
  const resolver = new IndexShuffleBlockResolver(bm.diskBlockManager);
  const updates: StatusUpdate[] = [];
  let bodyRuns = 0;
  let finished: (() => void) | undefined;
  const table = new Table(keyPayloadBatches(61, 1000, 250, 10));
  const exec = new Executor({
    executorId: 'e0',
    cores: 1,
    config,
    memoryManager: mm,
    blockManager: bm,
    diskBlockManager: bm.diskBlockManager,
    resolver,
    shuffleClient: new LocalShuffleClient(() => resolver),
    sources: { table: () => table, takeBatches: () => [] },
    functions: () => (batch) => {
      bodyRuns++;
      return batch;
    },
    sendToDriver: (bytes) => {
      const { message } = decodeMessage(bytes);
      if (message.type !== 'StatusUpdate') return;
      updates.push(message);
      if (message.state !== 'RUNNING') finished?.();
    },
    warn: () => undefined,
    beforeTaskBody,
  });
  const task: TaskDescription = {
    taskId: 7,
    attemptNumber: 0,
    jobId: 0,
    stageId: 0,
    stageAttemptId: 0,
    partition: 0,
    root: { kind: 'mapBatches', id: 1, fnId: 0, parent: { kind: 'source', id: 0, source: { kind: 'table', registryId: 0, numPartitions: 1 } } },
    result: { kind: 'count' },
    shuffleBlocks: {},
  };
  const run = async (): Promise<StatusUpdate[]> => {
    const done = new Promise<void>((resolve) => (finished = resolve));
    exec.receive(encodeMessage({ type: 'LaunchTask', task }));
    await done;
    await exec.stop();
    return updates;
  };
  return { exec, mm, bm, run, bodyRuns: () => bodyRuns };
}

describe('TaskRunner', () => {
  it('AC-EX-03 a task returning with 4096 bytes held warns of a managed memory leak, and the memory is freed', async () => {
    const e = executor({}, async (task) => {
      await e.mm.acquireExecutionMemory(4096, task.taskId, MemoryMode.OFF_HEAP);
    });
    const updates = await e.run();
    expect(updates.map((u) => u.state)).toEqual(['RUNNING', 'FINISHED']);
    expect(updates[1]!.warnings).toEqual(['Managed memory leak detected; size = 4096 bytes, TID = 7']);
    expect(e.mm.executionMemoryUsed).toBe(0);
  });

  it('AC-EX-03 with unsafe.exceptionOnMemoryLeak the leak fails the task instead', async () => {
    const e = executor({ 'unsafe.exceptionOnMemoryLeak': true }, async (task) => {
      await e.mm.acquireExecutionMemory(4096, task.taskId, MemoryMode.OFF_HEAP);
    });
    const updates = await e.run();
    expect(updates.map((u) => u.state)).toEqual(['RUNNING', 'FAILED']);
    expect(updates[1]!.failure).toMatchObject({ kind: 'exception', code: 'MEMORY_LEAK', message: 'Managed memory leak detected; size = 4096 bytes, TID = 7' });
    expect(e.mm.executionMemoryUsed).toBe(0);
  });

  it('AC-EX-03 the same task throwing instead fails with its own exception and no leak message', async () => {
    const e = executor({}, async (task) => {
      await e.mm.acquireExecutionMemory(4096, task.taskId, MemoryMode.OFF_HEAP);
      throw new TypeError('the task broke');
    });
    const updates = await e.run();
    expect(updates[1]!.state).toBe('FAILED');
    expect(updates[1]!.failure).toMatchObject({ kind: 'exception', name: 'TypeError', message: 'the task broke' });
    expect(updates[1]!.warnings).toEqual([]);
    expect(e.mm.executionMemoryUsed).toBe(0);
  });

  it('AC-EX-03 a task still holding 2 read locks is reported with the block ids, and the locks are released', async () => {
    const ids = [BlockId.rdd(9, 0), BlockId.rdd(9, 1)];
    const e = executor({}, async (task) => {
      for (const id of ids) await e.bm.blockInfoManager.lockForReading(id, task.taskId);
    });
    for (const id of ids) await e.bm.putIterator(id, [bytesBatch(100, 1)], StorageLevel.MEMORY_ONLY);
    const updates = await e.run();
    expect(updates[1]!.state).toBe('FINISHED');
    expect(updates[1]!.warnings).toEqual(['2 block locks were not released by TID = 7:\n[rdd_9_0, rdd_9_1]']);
    expect(e.bm.blockInfoManager.heldLocks()).toEqual([]);
    for (const id of ids) await e.bm.removeBlock(id);
  });

  it('AC-EX-04 a kill that arrives before the body runs: RUNNING then KILLED, and the body never runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const e = executor({}, () => gate);
    const running = e.run();
    await new Promise((resolve) => setImmediate(resolve));
    e.exec.receive(encodeMessage({ type: 'KillTask', taskId: 7, reason: 'stage cancelled' }));
    e.exec.receive(encodeMessage({ type: 'KillTask', taskId: 99, reason: 'an unknown task is ignored' }));
    release();
    const updates = await running;
    expect(updates.map((u) => u.state)).toEqual(['RUNNING', 'KILLED']);
    expect(updates[1]!.failure).toEqual({ kind: 'killed', reason: 'stage cancelled' });
    expect(e.bodyRuns()).toBe(0);
  });
});
