/**
 * Per-block reader/writer locks and metadata (Spark's BlockInfoManager, spark-semantics §2.2).
 *
 * What is tracked: for each block its BlockInfo (level, size, reader count, writer task), and
 * for each registered task the blocks it has write-locked (a set) and read-locked (a multiset:
 * read locks are re-entrant and counted). A block is never read-locked and write-locked at once.
 *
 * Who calls it: the BlockManager around every get and put; the MemoryStore when it evicts (a
 * non-blocking write lock, so blocks being read are skipped); the executor at the end of every
 * task (releaseAllLocksForTask), so a task that dies holding locks does not block others.
 *
 * Spark keys its locks on the calling thread's TaskContext; JavaScript has no such context, so
 * every call names its task. Code outside any task uses NON_TASK_WRITER, registered at
 * construction. Waiting is an awaited Promise on one condition that every change signals; a
 * waiter re-checks its block when woken, and an AbortSignal (a killed task) ends the wait.
 */
import { StorageError } from '../errors.js';
import type { TaskAttemptId } from '../memory/ExecutionMemoryPool.js';
import { Condition } from '../util/sync.js';
import type { BlockId } from './BlockId.js';
import type { StorageLevel } from './StorageLevel.js';

/** No task holds the write lock. */
export const NO_WRITER = -1;
/** The task id of code running outside any task (the driver, tests). */
export const NON_TASK_WRITER = -1024;

export class BlockInfo {
  /** Bytes of the block once stored (memory or disk size). */
  size = 0;
  readerCount = 0;
  writerTask: TaskAttemptId = NO_WRITER;

  constructor(
    readonly level: StorageLevel,
    /** Whether the block's status is reported to the driver (false for task results, temp blocks). */
    readonly tellMaster = true,
  ) {}
}

export interface LockOptions {
  /** Wait while another task holds a conflicting lock (default true); false returns undefined at once. */
  readonly blocking?: boolean;
  /** Ends a wait with TaskKilledError (a killed task). */
  readonly signal?: AbortSignal | undefined;
}

export class BlockInfoManager {
  private readonly infos = new Map<string, { id: BlockId; info: BlockInfo }>();
  private readonly writeLocksByTask = new Map<TaskAttemptId, Set<string>>();
  private readonly readLocksByTask = new Map<TaskAttemptId, Map<string, number>>();
  private readonly changed = new Condition();

  constructor() {
    this.registerTask(NON_TASK_WRITER);
  }

  /** Must be called before a task takes its first lock. */
  registerTask(task: TaskAttemptId): void {
    if (this.readLocksByTask.has(task)) throw new StorageError(`Task attempt ${task} is already registered`);
    this.writeLocksByTask.set(task, new Set());
    this.readLocksByTask.set(task, new Map());
  }

  get(id: BlockId): BlockInfo | undefined {
    return this.infos.get(id.name)?.info;
  }

  /** Number of blocks tracked. */
  get size(): number {
    return this.infos.size;
  }

  /** Every tracked block with its info (a snapshot). */
  entries(): Array<[BlockId, BlockInfo]> {
    return [...this.infos.values()].map(({ id, info }) => [id, info]);
  }

  /**
   * A read lock, granted when no task writes the block (any number may read; a task may read
   * the same block several times). Undefined when the block does not exist, was removed while
   * waiting, or is write-locked and `blocking` is false.
   */
  async lockForReading(id: BlockId, task: TaskAttemptId, options: LockOptions = {}): Promise<BlockInfo | undefined> {
    const reads = this.readLocks(task);
    for (;;) {
      const info = this.get(id);
      if (!info) return undefined;
      if (info.writerTask === NO_WRITER) {
        info.readerCount += 1;
        reads.set(id.name, (reads.get(id.name) ?? 0) + 1);
        return info;
      }
      if (options.blocking === false) return undefined;
      await this.changed.wait(options.signal);
    }
  }

  /**
   * The write lock, granted only when nobody reads or writes the block; a task holding it
   * cannot take it again (a non-blocking retry returns undefined, a blocking one would wait
   * for itself forever, as in Spark).
   */
  async lockForWriting(id: BlockId, task: TaskAttemptId, options: LockOptions = {}): Promise<BlockInfo | undefined> {
    for (;;) {
      const info = this.tryLockForWriting(id, task);
      if (info || !this.get(id) || options.blocking === false) return info;
      await this.changed.wait(options.signal);
    }
  }

  /** lockForWriting without waiting, synchronously (eviction uses it to skip busy blocks). */
  tryLockForWriting(id: BlockId, task: TaskAttemptId): BlockInfo | undefined {
    const writes = this.writeLocks(task);
    const info = this.get(id);
    if (!info || info.writerTask !== NO_WRITER || info.readerCount !== 0) return undefined;
    info.writerTask = task;
    writes.add(id.name);
    return info;
  }

  /**
   * First writer wins: if the block is absent, inserts `info` write-locked by `task` and returns
   * true. Otherwise returns false, holding a read lock on the existing block when
   * `keepReadLock` (waiting for its writer to finish; if it is removed meanwhile, tries again)
   * and no lock at once when not.
   */
  async lockNewBlockForWriting(
    id: BlockId,
    info: BlockInfo,
    task: TaskAttemptId,
    options: { keepReadLock?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<boolean> {
    const writes = this.writeLocks(task);
    for (;;) {
      if (!this.infos.has(id.name)) {
        this.infos.set(id.name, { id, info });
        info.writerTask = task;
        writes.add(id.name);
        return true;
      }
      if (options.keepReadLock === false) return false;
      if (await this.lockForReading(id, task, { signal: options.signal })) return false;
    }
  }

  /** Turns `task`'s write lock into a read lock, with no moment at which another writer could enter. */
  downgradeLock(id: BlockId, task: TaskAttemptId): void {
    this.assertBlockIsLockedForWriting(id, task);
    this.unlock(id, task);
    const info = this.get(id)!;
    info.readerCount += 1;
    const reads = this.readLocks(task);
    reads.set(id.name, (reads.get(id.name) ?? 0) + 1);
  }

  /** Releases one lock `task` holds on the block: the write lock if there is a writer, else one read lock. */
  unlock(id: BlockId, task: TaskAttemptId): void {
    const info = this.get(id);
    if (!info) throw new StorageError(`Block ${id.name} not found`);
    if (info.writerTask !== NO_WRITER) {
      info.writerTask = NO_WRITER;
      this.writeLocksByTask.get(task)?.delete(id.name);
    } else {
      if (info.readerCount <= 0) throw new StorageError(`Block ${id.name} is not locked for reading`);
      info.readerCount -= 1;
      // Gone when releaseAllLocksForTask ran first (SPARK-38675): the count was settled there.
      const reads = this.readLocksByTask.get(task);
      if (reads) {
        const held = reads.get(id.name) ?? 0;
        if (held <= 0) {
          info.readerCount += 1;
          throw new StorageError(`Task ${task} release lock on block ${id.name} more times than it acquired it`);
        }
        if (held === 1) reads.delete(id.name);
        else reads.set(id.name, held - 1);
      }
    }
    this.changed.notifyAll();
  }

  /** Throws unless `task` holds the block's write lock (also when the block does not exist). */
  assertBlockIsLockedForWriting(id: BlockId, task: TaskAttemptId): BlockInfo {
    const info = this.get(id);
    if (!info) throw new StorageError(`Block ${id.name} does not exist`);
    if (info.writerTask !== task) throw new StorageError(`Task ${task} has not locked block ${id.name} for writing`);
    return info;
  }

  /** Deletes the block's info; the caller must hold its write lock. Waiters then get undefined. */
  removeBlock(id: BlockId, task: TaskAttemptId): void {
    const info = this.get(id);
    if (!info) throw new StorageError(`Block ${id.name} does not exist.`);
    if (info.writerTask !== task) {
      throw new StorageError(`Task ${task} called remove() on block ${id.name} without a write lock`);
    }
    this.infos.delete(id.name);
    this.writeLocksByTask.get(task)?.delete(id.name);
    info.readerCount = 0;
    info.writerTask = NO_WRITER;
    this.changed.notifyAll();
  }

  /**
   * Releases every lock `task` holds and forgets the task (it must register again to lock).
   * Returns the blocks whose locks were released, write locks first.
   */
  releaseAllLocksForTask(task: TaskAttemptId): BlockId[] {
    const released: BlockId[] = [];
    const writes = this.writeLocksByTask.get(task);
    this.writeLocksByTask.delete(task);
    for (const name of writes ?? []) {
      const entry = this.infos.get(name);
      if (!entry) continue;
      if (entry.info.writerTask === task) entry.info.writerTask = NO_WRITER;
      released.push(entry.id);
    }
    const reads = this.readLocksByTask.get(task);
    this.readLocksByTask.delete(task);
    for (const [name, count] of reads ?? []) {
      const entry = this.infos.get(name);
      if (!entry) continue;
      entry.info.readerCount -= count;
      released.push(entry.id);
    }
    this.changed.notifyAll();
    return released;
  }

  /** Read locks `task` holds on the block (for tests and leak reports). */
  readLockCount(id: BlockId, task: TaskAttemptId): number {
    return this.readLocksByTask.get(task)?.get(id.name) ?? 0;
  }

  /** Every lock held by any task: what a task-end or test leak check looks at. */
  heldLocks(): Array<{ blockId: BlockId; writer: TaskAttemptId; readers: number }> {
    return [...this.infos.values()]
      .filter(({ info }) => info.writerTask !== NO_WRITER || info.readerCount > 0)
      .map(({ id, info }) => ({ blockId: id, writer: info.writerTask, readers: info.readerCount }));
  }

  /**
   * Spark's getNumberOfMapEntries: blocks, plus each task's two tracking entries and the locks
   * in them. A test checks that finished tasks leave nothing behind.
   */
  getNumberOfMapEntries(): number {
    let n = this.infos.size + this.readLocksByTask.size + this.writeLocksByTask.size;
    for (const reads of this.readLocksByTask.values()) n += reads.size;
    for (const writes of this.writeLocksByTask.values()) n += writes.size;
    return n;
  }

  /** Forgets everything (shutdown); waiters get undefined. */
  clear(): void {
    for (const { info } of this.infos.values()) {
      info.readerCount = 0;
      info.writerTask = NO_WRITER;
    }
    this.infos.clear();
    this.readLocksByTask.clear();
    this.writeLocksByTask.clear();
    this.changed.notifyAll();
  }

  private readLocks(task: TaskAttemptId): Map<string, number> {
    const reads = this.readLocksByTask.get(task);
    if (!reads) throw new StorageError(`Task attempt ${task} is not registered with the block info manager`);
    return reads;
  }

  private writeLocks(task: TaskAttemptId): Set<string> {
    const writes = this.writeLocksByTask.get(task);
    if (!writes) throw new StorageError(`Task attempt ${task} is not registered with the block info manager`);
    return writes;
  }
}
