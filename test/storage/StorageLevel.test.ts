import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { StorageLevel, type StorageLevelName } from '../../src/storage/StorageLevel.js';

// spark-semantics §2.4's table: (disk, mem, offheap, deser, repl).
const TABLE: Array<[StorageLevelName, boolean, boolean, boolean, boolean, number]> = [
  ['NONE', false, false, false, false, 1],
  ['DISK_ONLY', true, false, false, false, 1],
  ['DISK_ONLY_2', true, false, false, false, 2],
  ['DISK_ONLY_3', true, false, false, false, 3],
  ['MEMORY_ONLY', false, true, false, true, 1],
  ['MEMORY_ONLY_2', false, true, false, true, 2],
  ['MEMORY_ONLY_SER', false, true, false, false, 1],
  ['MEMORY_ONLY_SER_2', false, true, false, false, 2],
  ['MEMORY_AND_DISK', true, true, false, true, 1],
  ['MEMORY_AND_DISK_2', true, true, false, true, 2],
  ['MEMORY_AND_DISK_SER', true, true, false, false, 1],
  ['MEMORY_AND_DISK_SER_2', true, true, false, false, 2],
  ['OFF_HEAP', true, true, true, false, 1],
];

describe('StorageLevel', () => {
  test('AC-SL-01 flag algebra, validity, the off-heap and replication rules, fromString', () => {
    expect(StorageLevel.MEMORY_ONLY.toInt()).toBe(5);
    expect(StorageLevel.MEMORY_AND_DISK_SER.toInt()).toBe(12);
    expect(StorageLevel.OFF_HEAP.toInt()).toBe(14);
    expect(StorageLevel.DISK_ONLY_2.hashCode()).toBe(8 * 41 + 2);
    expect(StorageLevel.NONE.isValid).toBe(false);
    expect(() => StorageLevel.of(false, true, true, true)).toThrow('Off-heap storage level does not support deserialized storage');
    expect(() => StorageLevel.of(false, true, false, true, 40)).toThrow(InvalidArgumentError);
    expect(() => StorageLevel.fromString('FOO')).toThrow('Invalid StorageLevel: FOO');
  });

  test.each(TABLE)('%s has the fields of §2.4, and its name, int and bytes round-trip', (name, disk, mem, offHeap, deser, repl) => {
    const level = StorageLevel.fromString(name);
    expect([level.useDisk, level.useMemory, level.useOffHeap, level.deserialized, level.replication]).toEqual([disk, mem, offHeap, deser, repl]);
    expect(level.toString()).toBe(name);
    expect(StorageLevel.fromInt(level.toInt(), level.replication)).toBe(level);
    expect(StorageLevel.fromBytes(level.toBytes())).toBe(level);
    expect(level.memoryMode).toBe(offHeap ? MemoryMode.OFF_HEAP : MemoryMode.ON_HEAP);
    expect(level.isValid).toBe(name !== 'NONE');
  });

  test('levels are interned; fromString takes only the predefined names', () => {
    expect(StorageLevel.of(true, true, false, true, 1)).toBe(StorageLevel.MEMORY_AND_DISK);
    expect(StorageLevel.MEMORY_ONLY.with({ useDisk: true })).toBe(StorageLevel.MEMORY_AND_DISK);
    for (const bad of ['memory_only', 'MEMORY_ONLY ', 'toString', '']) {
      expect(() => StorageLevel.fromString(bad)).toThrow(`Invalid StorageLevel: ${bad}`);
    }
    expect(StorageLevel.of(true, false, false, false, 0).isValid).toBe(false);
    expect(() => StorageLevel.fromInt(16)).toThrow(InvalidArgumentError);
    expect(StorageLevel.MEMORY_AND_DISK_SER_2.description).toBe('Disk Memory Serialized 2x Replicated');
  });
});
