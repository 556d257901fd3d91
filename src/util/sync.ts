/**
 * Waiting without threads: a mutex for async critical sections and a condition variable, both
 * built on promises. Nothing here polls; a waiter is resumed by the release or notify that
 * concerns it.
 *
 * Why a mutex in single-threaded JavaScript: the memory managers' critical sections await
 * (eviction may write blocks to disk, a spill writes a run), and another task's request must
 * not interleave with one half done, just as Spark synchronises them on the manager.
 */
import { TaskKilledError } from '../errors.js';

export class AsyncMutex {
  private locked = false;
  private readonly queue: Array<() => void> = [];

  /** True while someone holds the lock. */
  get isLocked(): boolean {
    return this.locked;
  }

  /** Resolves with the function that unlocks; call it exactly once. */
  async lock(): Promise<() => void> {
    if (this.locked) await new Promise<void>((resume) => this.queue.push(resume));
    this.locked = true;
    let unlocked = false;
    return () => {
      if (unlocked) return;
      unlocked = true;
      const next = this.queue.shift();
      // Hand the lock straight to the next waiter so that no newcomer can overtake it.
      if (next) next();
      else this.locked = false;
    };
  }

  async run<T>(critical: () => Promise<T> | T): Promise<T> {
    const unlock = await this.lock();
    try {
      return await critical();
    } finally {
      unlock();
    }
  }
}

/**
 * Every waiter is resumed by the next notifyAll, and re-checks its condition itself. Waiters
 * are resumed in order of their rank (then of arrival), so a waiter that is woken, finds its
 * condition still false and waits again keeps its place instead of queueing behind newcomers.
 */
export class Condition {
  private waiters: Array<{ rank: number; wake: () => void }> = [];

  /**
   * Registers the waiter at once (so a notify between this call and the await is not lost)
   * and resolves on the next notifyAll. Rejects with TaskKilledError if `signal` aborts first.
   */
  wait(signal?: AbortSignal, rank = Number.MAX_SAFE_INTEGER): Promise<void> {
    if (signal?.aborted) return Promise.reject(killed(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(killed(signal!));
      };
      const waiter = {
        rank,
        wake: (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      let at = this.waiters.length;
      while (at > 0 && this.waiters[at - 1]!.rank > rank) at -= 1;
      this.waiters.splice(at, 0, waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  notifyAll(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) waiter.wake();
  }

  get waiting(): number {
    return this.waiters.length;
  }
}

function killed(signal: AbortSignal): TaskKilledError {
  const reason: unknown = signal.reason;
  if (reason instanceof TaskKilledError) return reason;
  return new TaskKilledError(reason instanceof Error ? reason.message : String(reason ?? 'aborted'));
}
