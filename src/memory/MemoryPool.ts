/**
 * A pool of a fixed (but movable) number of bytes. The unified manager moves bytes between a
 * mode's execution pool and storage pool by shrinking one and growing the other; the sum of the
 * two stays the mode's maximum (checked by the manager after every call).
 */
import { InternalError } from '../errors.js';
import type { MemoryMode } from './MemoryMode.js';

export abstract class MemoryPool {
  private size = 0;

  constructor(readonly memoryMode: MemoryMode) {}

  get poolSize(): number {
    return this.size;
  }

  abstract get memoryUsed(): number;

  get memoryFree(): number {
    return this.size - this.memoryUsed;
  }

  incrementPoolSize(delta: number): void {
    if (delta < 0) throw new InternalError('INVARIANT_VIOLATED', `cannot grow a pool by ${delta} bytes`);
    this.size += delta;
  }

  decrementPoolSize(delta: number): void {
    if (delta < 0 || delta > this.size || this.size - delta < this.memoryUsed) {
      throw new InternalError(
        'INVARIANT_VIOLATED',
        `cannot shrink a pool of ${this.size} bytes with ${this.memoryUsed} used by ${delta} bytes`,
      );
    }
    this.size -= delta;
  }
}
