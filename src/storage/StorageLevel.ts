/**
 * How a block is kept (Spark's StorageLevel, spark-semantics §2.4): on disk, in memory, in
 * native (off-heap) memory, as deserialized Arrow batches or as serialized Arrow IPC bytes, and
 * on how many executors.
 *
 * Flags as Spark packs them (toInt): disk 8, memory 4, off-heap 2, deserialized 1; with the
 * replication they serialise to 2 bytes. hashCode = toInt × 41 + replication.
 *
 * Rules: an off-heap level is never deserialized (Arrow batches live in JavaScript memory);
 * replication is 1..39; a level is valid when it uses memory or disk and replication > 0.
 * Replication above 1 is recorded and takes effect once a session has several executors.
 *
 * Levels are interned: constructing equal flags twice gives the same object, so `===` works.
 */
import { InvalidArgumentError } from '../errors.js';
import { MemoryMode } from '../memory/MemoryMode.js';

const DISK = 8;
const MEMORY = 4;
const OFF_HEAP = 2;
const DESERIALIZED = 1;

const cache = new Map<number, StorageLevel>();

export class StorageLevel {
  private constructor(
    readonly useDisk: boolean,
    readonly useMemory: boolean,
    readonly useOffHeap: boolean,
    readonly deserialized: boolean,
    readonly replication: number,
  ) {}

  /** Spark's StorageLevel.apply: checked and interned. */
  static of(useDisk: boolean, useMemory: boolean, useOffHeap: boolean, deserialized: boolean, replication = 1): StorageLevel {
    if (useOffHeap && deserialized) {
      throw new InvalidArgumentError('Off-heap storage level does not support deserialized storage');
    }
    if (!Number.isInteger(replication) || replication < 0 || replication >= 40) {
      throw new InvalidArgumentError(`Replication restricted to be less than 40 for calculating hash codes (got ${replication})`);
    }
    const flags = (useDisk ? DISK : 0) | (useMemory ? MEMORY : 0) | (useOffHeap ? OFF_HEAP : 0) | (deserialized ? DESERIALIZED : 0);
    const key = flags * 64 + replication;
    let level = cache.get(key);
    if (!level) {
      level = new StorageLevel(useDisk, useMemory, useOffHeap, deserialized, replication);
      Object.freeze(level);
      cache.set(key, level);
    }
    return level;
  }

  /** From Spark's 2-byte form: flags, replication. */
  static fromInt(flags: number, replication = 1): StorageLevel {
    if (!Number.isInteger(flags) || flags < 0 || flags > 15) throw new InvalidArgumentError(`storage level flags must be 0..15, got ${flags}`);
    return StorageLevel.of((flags & DISK) !== 0, (flags & MEMORY) !== 0, (flags & OFF_HEAP) !== 0, (flags & DESERIALIZED) !== 0, replication);
  }

  static fromBytes(bytes: Uint8Array): StorageLevel {
    if (bytes.length !== 2) throw new InvalidArgumentError(`a storage level is 2 bytes, got ${bytes.length}`);
    return StorageLevel.fromInt(bytes[0]!, bytes[1]!);
  }

  /** Exactly the predefined names; anything else is "Invalid StorageLevel: <s>". */
  static fromString(name: string): StorageLevel {
    const level = Object.hasOwn(PREDEFINED, name) ? PREDEFINED[name as StorageLevelName] : undefined;
    if (!level) throw new InvalidArgumentError(`Invalid StorageLevel: ${name}`);
    return level;
  }

  toInt(): number {
    return (
      (this.useDisk ? DISK : 0) | (this.useMemory ? MEMORY : 0) | (this.useOffHeap ? OFF_HEAP : 0) | (this.deserialized ? DESERIALIZED : 0)
    );
  }

  toBytes(): Uint8Array {
    return Uint8Array.of(this.toInt(), this.replication);
  }

  hashCode(): number {
    return this.toInt() * 41 + this.replication;
  }

  get isValid(): boolean {
    return (this.useMemory || this.useDisk) && this.replication > 0;
  }

  get memoryMode(): MemoryMode {
    return this.useOffHeap ? MemoryMode.OFF_HEAP : MemoryMode.ON_HEAP;
  }

  /** The same level with other flags (for example, what is left after a drop from memory). */
  with(changes: Partial<Pick<StorageLevel, 'useDisk' | 'useMemory' | 'useOffHeap' | 'deserialized' | 'replication'>>): StorageLevel {
    return StorageLevel.of(
      changes.useDisk ?? this.useDisk,
      changes.useMemory ?? this.useMemory,
      changes.useOffHeap ?? this.useOffHeap,
      changes.deserialized ?? this.deserialized,
      changes.replication ?? this.replication,
    );
  }

  /** Spark's description: "Disk Memory Deserialized 1x Replicated". */
  get description(): string {
    const parts: string[] = [];
    if (this.useDisk) parts.push('Disk');
    if (this.useMemory) parts.push(this.useOffHeap ? 'Memory (off heap)' : 'Memory');
    parts.push(this.deserialized ? 'Deserialized' : 'Serialized');
    return `${parts.join(' ')} ${this.replication}x Replicated`;
  }

  /** The predefined name when there is one, else Spark's toString form. */
  toString(): string {
    for (const [name, level] of Object.entries(PREDEFINED)) if (level === this) return name;
    return `StorageLevel(disk=${this.useDisk}, memory=${this.useMemory}, offheap=${this.useOffHeap}, deserialized=${this.deserialized}, replication=${this.replication})`;
  }

  static readonly NONE = StorageLevel.of(false, false, false, false);
  static readonly DISK_ONLY = StorageLevel.of(true, false, false, false);
  static readonly DISK_ONLY_2 = StorageLevel.of(true, false, false, false, 2);
  static readonly DISK_ONLY_3 = StorageLevel.of(true, false, false, false, 3);
  static readonly MEMORY_ONLY = StorageLevel.of(false, true, false, true);
  static readonly MEMORY_ONLY_2 = StorageLevel.of(false, true, false, true, 2);
  static readonly MEMORY_ONLY_SER = StorageLevel.of(false, true, false, false);
  static readonly MEMORY_ONLY_SER_2 = StorageLevel.of(false, true, false, false, 2);
  static readonly MEMORY_AND_DISK = StorageLevel.of(true, true, false, true);
  static readonly MEMORY_AND_DISK_2 = StorageLevel.of(true, true, false, true, 2);
  static readonly MEMORY_AND_DISK_SER = StorageLevel.of(true, true, false, false);
  static readonly MEMORY_AND_DISK_SER_2 = StorageLevel.of(true, true, false, false, 2);
  static readonly OFF_HEAP = StorageLevel.of(true, true, true, false, 1);
}

const PREDEFINED = {
  NONE: StorageLevel.NONE,
  DISK_ONLY: StorageLevel.DISK_ONLY,
  DISK_ONLY_2: StorageLevel.DISK_ONLY_2,
  DISK_ONLY_3: StorageLevel.DISK_ONLY_3,
  MEMORY_ONLY: StorageLevel.MEMORY_ONLY,
  MEMORY_ONLY_2: StorageLevel.MEMORY_ONLY_2,
  MEMORY_ONLY_SER: StorageLevel.MEMORY_ONLY_SER,
  MEMORY_ONLY_SER_2: StorageLevel.MEMORY_ONLY_SER_2,
  MEMORY_AND_DISK: StorageLevel.MEMORY_AND_DISK,
  MEMORY_AND_DISK_2: StorageLevel.MEMORY_AND_DISK_2,
  MEMORY_AND_DISK_SER: StorageLevel.MEMORY_AND_DISK_SER,
  MEMORY_AND_DISK_SER_2: StorageLevel.MEMORY_AND_DISK_SER_2,
  OFF_HEAP: StorageLevel.OFF_HEAP,
} as const;

export type StorageLevelName = keyof typeof PREDEFINED;
