import { beforeEach, describe, expect, test } from 'vitest';
import { StorageError, TaskKilledError } from '../../src/errors.js';
import { BlockId } from '../../src/storage/BlockId.js';
import { BlockInfo, BlockInfoManager, NO_WRITER, NON_TASK_WRITER } from '../../src/storage/BlockInfoManager.js';
import { StorageLevel } from '../../src/storage/StorageLevel.js';
import { settle } from '../memory/helpers.js';
import { trackLocks } from '../support/leaks.js';
import { Random } from '../support/random.js';

const block = BlockId.test('block');
const newInfo = (): BlockInfo => new BlockInfo(StorageLevel.MEMORY_ONLY, false);

let bim: BlockInfoManager;
beforeEach(() => {
  // Tasks 0–4 registered, as Spark's suite does.
  bim = trackLocks(new BlockInfoManager());
  for (let task = 0; task <= 4; task++) bim.registerTask(task);
});

describe('BlockInfoManager', () => {
  test('AC-BIM-01 absent blocks: get and both locks give nothing; removeBlock throws', async () => {
    const absent = BlockId.test('non-existent-block');
    expect(bim.get(absent)).toBeUndefined();
    expect(await bim.lockForReading(absent, 0)).toBeUndefined();
    expect(await bim.lockForWriting(absent, 0)).toBeUndefined();
    const error = (() => {
      try {
        bim.removeBlock(absent, 0);
      } catch (e) {
        return e as StorageError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(StorageError);
    expect(error!.code).toBe('INTERNAL_ERROR_STORAGE');
    expect(error!.message).toBe('Block test_non-existent-block does not exist.');
  });

  test('AC-BIM-02 new block, downgrade and re-put keep the first info', async () => {
    const info = newInfo();
    expect(await bim.lockNewBlockForWriting(block, info, 1)).toBe(true);
    expect([info.readerCount, info.writerTask]).toEqual([0, 1]);
    bim.downgradeLock(block, 1);
    expect([info.readerCount, info.writerTask]).toEqual([1, NO_WRITER]);
    expect(await bim.lockNewBlockForWriting(block, newInfo(), 1)).toBe(false);
    expect(info.readerCount).toBe(2);
    expect(bim.get(block)).toBe(info);
    bim.unlock(block, 1);
    bim.unlock(block, 1);
    expect(info.readerCount).toBe(0);
    expect(bim.size).toBe(1);
  });

  test('AC-BIM-03 racing creators wait, and read once the winner downgrades', async () => {
    const info = newInfo();
    expect(await bim.lockNewBlockForWriting(block, info, 0)).toBe(true);
    const loser1 = bim.lockNewBlockForWriting(block, newInfo(), 1);
    const loser2 = bim.lockNewBlockForWriting(block, newInfo(), 2);
    await settle();
    expect(info.readerCount).toBe(0);
    bim.downgradeLock(block, 0);
    expect(await loser1).toBe(false);
    expect(await loser2).toBe(false);
    expect(info.readerCount).toBe(3);
    for (const task of [0, 1, 2]) bim.unlock(block, task);
  });

  test('AC-BIM-05 keepReadLock = false returns at once without a lock', async () => {
    const info = newInfo();
    await bim.lockNewBlockForWriting(block, info, 0);
    expect(await bim.lockNewBlockForWriting(block, newInfo(), 1, { keepReadLock: false })).toBe(false);
    expect(info.readerCount).toBe(0);
    bim.unlock(block, 0);
  });

  test('AC-BIM-06 read locks are re-entrant and shared', async () => {
    const info = newInfo();
    await bim.lockNewBlockForWriting(block, info, 0);
    bim.unlock(block, 0);
    await bim.lockForReading(block, 0);
    await bim.lockForReading(block, 0);
    expect(info.readerCount).toBe(2);
    bim.unlock(block, 0);
    expect(info.readerCount).toBe(1);
    bim.unlock(block, 0);
    expect(info.readerCount).toBe(0);
    for (const task of [1, 2, 3, 4]) expect(await bim.lockForReading(block, task)).toBe(info);
    expect(info.readerCount).toBe(4);
    for (const task of [1, 2, 3, 4]) bim.unlock(block, task);
  });

  test('AC-BIM-07 write locks are exclusive, also against their holder', async () => {
    const info = newInfo();
    await bim.lockNewBlockForWriting(block, info, 0);
    bim.unlock(block, 0);
    expect(await bim.lockForWriting(block, 1)).toBe(info);
    expect(info.writerTask).toBe(1);
    expect(await bim.lockForWriting(block, 2, { blocking: false })).toBeUndefined();
    expect(info.writerTask).toBe(1);
    expect(await bim.lockForWriting(block, 1, { blocking: false })).toBeUndefined();
    expect(() => bim.assertBlockIsLockedForWriting(block, 1)).not.toThrow();
    bim.unlock(block, 1);
    for (const task of [1, NON_TASK_WRITER]) {
      expect(() => bim.assertBlockIsLockedForWriting(block, task)).toThrow(StorageError);
      expect(() => bim.assertBlockIsLockedForWriting(BlockId.test('absent'), task)).toThrow(StorageError);
    }
  });

  test('AC-BIM-08 writers block readers, and readers block writers one at a time', async () => {
    const info = newInfo();
    await bim.lockNewBlockForWriting(block, info, 0);
    const reader1 = bim.lockForReading(block, 1);
    const reader2 = bim.lockForReading(block, 2);
    await settle();
    expect(info.readerCount).toBe(0);
    bim.unlock(block, 0);
    expect(await reader1).toBe(info);
    expect(await reader2).toBe(info);
    expect(info.readerCount).toBe(2);
    bim.unlock(block, 1);
    bim.unlock(block, 2);

    await bim.lockForReading(block, 0);
    let granted: number[] = [];
    const writer1 = bim.lockForWriting(block, 1).then(() => granted.push(1));
    const writer2 = bim.lockForWriting(block, 2).then(() => granted.push(2));
    await settle();
    expect(granted).toEqual([]);
    bim.unlock(block, 0);
    await settle();
    expect(granted).toHaveLength(1);
    const first = granted[0]!;
    expect(info.writerTask).toBe(first);
    bim.unlock(block, first);
    await Promise.all([writer1, writer2]);
    expect(granted).toHaveLength(2);
    const second = granted[1]!;
    expect(info.writerTask).toBe(second);
    bim.unlock(block, second);
    granted = [];
  });

  test('AC-BIM-09 removal needs the write lock, and waiters then get nothing', async () => {
    const info = newInfo();
    await bim.lockNewBlockForWriting(block, info, 0);
    bim.unlock(block, 0);
    expect(() => bim.removeBlock(block, 0)).toThrow('Task 0 called remove() on block test_block without a write lock');
    await bim.lockForReading(block, 0);
    expect(() => bim.removeBlock(block, 0)).toThrow(StorageError);
    bim.unlock(block, 0);

    await bim.lockForWriting(block, 0);
    const reader = bim.lockForReading(block, 1);
    const writer = bim.lockForWriting(block, 2);
    await settle();
    bim.removeBlock(block, 0);
    expect(await reader).toBeUndefined();
    expect(await writer).toBeUndefined();
    expect(bim.get(block)).toBeUndefined();
  });

  test('AC-BIM-10 releaseAllLocksForTask releases and forgets the task; racing unlocks do not fail', async () => {
    const fresh = trackLocks(new BlockInfoManager());
    for (let task = 0; task <= 4; task++) fresh.registerTask(task);
    expect(fresh.getNumberOfMapEntries()).toBe(12);
    await fresh.lockNewBlockForWriting(block, newInfo(), 0);
    expect(fresh.getNumberOfMapEntries()).toBe(14);
    expect(fresh.releaseAllLocksForTask(0)).toEqual([block]);
    expect(fresh.getNumberOfMapEntries()).toBe(11);
    expect(fresh.get(block)!.writerTask).toBe(NO_WRITER);

    // SPARK-38675: unlocks of a task whose locks were released meanwhile are skipped quietly.
    fresh.registerTask(0);
    for (let i = 0; i < 51; i++) await fresh.lockForReading(block, 0);
    const unlocks = Array.from({ length: 51 }, (_, i) =>
      Promise.resolve().then(() => {
        if (i === 25) fresh.releaseAllLocksForTask(0);
        else if (fresh.get(block)!.readerCount > 0) fresh.unlock(block, 0);
      }),
    );
    await Promise.all(unlocks);
    expect(fresh.get(block)!.readerCount).toBe(0);
  });

  test('a task that dies holding locks: releaseAllLocksForTask frees readers and writers waiting on it', async () => {
    const a = BlockId.test('a');
    const b = BlockId.test('b');
    await bim.lockNewBlockForWriting(a, newInfo(), 0);
    await bim.lockNewBlockForWriting(b, newInfo(), 1);
    bim.unlock(b, 1);
    await bim.lockForReading(b, 0);
    await bim.lockForReading(b, 0);
    const waitingReader = bim.lockForReading(a, 2);
    const waitingWriter = bim.lockForWriting(b, 3);
    await settle();
    const released = bim.releaseAllLocksForTask(0).map((id) => id.name);
    expect(released.sort()).toEqual(['test_a', 'test_b']);
    expect(await waitingReader).toBe(bim.get(a));
    expect(await waitingWriter).toBe(bim.get(b));
    bim.unlock(a, 2);
    bim.unlock(b, 3);
    await expect(bim.lockForReading(a, 0)).rejects.toThrow('is not registered');
  });

  test('a killed task stops waiting for a lock with TaskKilledError and holds nothing', async () => {
    await bim.lockNewBlockForWriting(block, newInfo(), 0);
    const kill = new AbortController();
    const waiting = bim.lockForReading(block, 1, { signal: kill.signal });
    kill.abort(new TaskKilledError('killed by the test'));
    await expect(waiting).rejects.toBeInstanceOf(TaskKilledError);
    expect(bim.readLockCount(block, 1)).toBe(0);
    bim.unlock(block, 0);
  });

  test('misuse is a StorageError: unlock more than held, unregistered task, double registration', async () => {
    await bim.lockNewBlockForWriting(block, newInfo(), 0);
    bim.unlock(block, 0);
    expect(() => bim.unlock(block, 0)).toThrow('Block test_block is not locked for reading');
    await bim.lockForReading(block, 1);
    expect(() => bim.unlock(block, 2)).toThrow('Task 2 release lock on block test_block more times than it acquired it');
    expect(bim.get(block)!.readerCount).toBe(1);
    bim.unlock(block, 1);
    expect(() => bim.registerTask(1)).toThrow(StorageError);
    await expect(bim.lockForWriting(block, 99)).rejects.toThrow(StorageError);
  });

  test.each([1, 2, 3])('seed %i: many tasks reading and writing at random never see a reader and a writer together', async (seed) => {
    const rng = new Random(seed);
    const blocks = [BlockId.test('x'), BlockId.test('y'), BlockId.test('z')];
    for (const id of blocks) {
      await bim.lockNewBlockForWriting(id, newInfo(), NON_TASK_WRITER);
      bim.unlock(id, NON_TASK_WRITER);
    }
    let violations = 0;
    const worker = async (task: number): Promise<void> => {
      for (let step = 0; step < 60; step++) {
        const id = blocks[rng.int(blocks.length)]!;
        const write = rng.bool(0.3);
        const info = write ? await bim.lockForWriting(id, task) : await bim.lockForReading(id, task);
        if (!info) throw new Error('a block vanished');
        if (write ? info.readerCount !== 0 : info.writerTask !== NO_WRITER) violations += 1;
        for (let i = rng.int(3); i > 0; i--) await settle();
        if (write ? info.readerCount !== 0 || info.writerTask !== task : info.writerTask !== NO_WRITER) violations += 1;
        bim.unlock(id, task);
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(worker));
    expect(violations).toBe(0);
    for (const id of blocks) expect(bim.get(id)).toMatchObject({ readerCount: 0, writerTask: NO_WRITER });
  });
});
