import { describe, expect, test } from 'vitest';
import { BlockNotFoundError, StorageError } from '../../src/errors.js';
import { BlockId } from '../../src/storage/BlockId.js';
import { DiskStore } from '../../src/storage/DiskStore.js';
import { testDiskBlockManager } from '../support/leaks.js';
import { collect } from './helpers.js';

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

describe('DiskStore', () => {
  test('blocks below the threshold are read in one piece, larger ones in chunks of at most chunkSize', async () => {
    const store = new DiskStore(testDiskBlockManager(), { memoryMapThreshold: 4096, chunkSize: 1000 });
    const small = BlockId.test('small');
    const large = BlockId.test('large');
    await store.putBytes(small, [bytes(3000, 1)]);
    await store.putBytes(large, [bytes(2500, 2), bytes(2500, 3)]);
    expect((await collect(store.readChunks(small))).map((c) => c.byteLength)).toEqual([3000]);
    const chunks = await collect(store.readChunks(large));
    expect(chunks.map((c) => c.byteLength)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(Buffer.concat(chunks)).toEqual(Buffer.concat([bytes(2500, 2), bytes(2500, 3)]));
    expect(store.getSize(large)).toBe(5000);
    await store.clear();
    expect(store.contains(small)).toBe(false);
  });

  test('a block is written once; a failing writer leaves no file; removal reports what it did', async () => {
    const store = new DiskStore(testDiskBlockManager());
    const id = BlockId.test('once');
    await store.putBytes(id, [bytes(10, 1)]);
    await expect(store.putBytes(id, [bytes(10, 1)])).rejects.toThrow(StorageError);
    await expect(
      store.put(BlockId.test('failing'), async (sink) => {
        sink.write(bytes(100, 2));
        await sink.drain();
        throw new Error('writer failed');
      }),
    ).rejects.toThrow('writer failed');
    expect(store.contains(BlockId.test('failing'))).toBe(false);
    await expect(collect(store.readChunks(BlockId.test('failing')))).rejects.toThrow(BlockNotFoundError);
    expect(await store.remove(id)).toBe(true);
    expect(await store.remove(id)).toBe(false);
    expect(store.numBlocks).toBe(0);
  });
});
