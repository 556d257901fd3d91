import { describe, expect, test } from 'vitest';
import { UnrecognizedBlockIdError } from '../../src/errors.js';
import { BlockId } from '../../src/storage/BlockId.js';
import { DiskBlockManager, nonNegativeHash } from '../../src/storage/DiskBlockManager.js';
import { testDiskBlockManager } from '../support/leaks.js';

describe('BlockId', () => {
  test.each([
    [BlockId.rdd(1, 2), 'rdd_1_2'],
    [BlockId.shuffle(0, 7, 3), 'shuffle_0_7_3'],
    [BlockId.shuffleData(0, 7), 'shuffle_0_7_0.data'],
    [BlockId.shuffleIndex(0, 7), 'shuffle_0_7_0.index'],
    [BlockId.broadcast(4), 'broadcast_4'],
    [BlockId.broadcast(4, 'piece0'), 'broadcast_4_piece0'],
    [BlockId.taskResult(12), 'taskresult_12'],
    [BlockId.tempLocal('1b2c-3d'), 'temp_local_1b2c-3d'],
    [BlockId.tempShuffle('ab-cd'), 'temp_shuffle_ab-cd'],
    [BlockId.test('non-existent-block'), 'test_non-existent-block'],
  ])('%o is named %s, and the name parses back to the same id', (id, name) => {
    expect(id.name).toBe(name);
    expect(BlockId.parse(name)).toEqual(id);
  });

  test('names that are no Spark block id are UnrecognizedBlockIdError', () => {
    for (const bad of ['rdd_1', 'rdd_a_1', 'shuffle_1_2', 'temp_local_xyz', 'broadcast_1-x', 'RDD_1_2', 'rdd_99999999999999999999_1', '']) {
      expect(() => BlockId.parse(bad), bad).toThrow(UnrecognizedBlockIdError);
    }
    try {
      BlockId.parse('nope');
    } catch (error) {
      expect((error as UnrecognizedBlockIdError).code).toBe('UNRECOGNIZED_BLOCK_ID');
      expect((error as Error).message).toBe('Failed to parse nope into a block id');
    }
    expect(() => BlockId.rdd(-1, 0)).toThrow('rddId must be a non-negative whole number');
  });
});

describe('DiskBlockManager', () => {
  test("a block's file is where Spark's hash puts it: dirId = h % dirs, subDir = (h / dirs) % 64", () => {
    const dirs = new DiskBlockManager([testDiskBlockManager().localDirs[0]!, testDiskBlockManager().localDirs[0]!]);
    try {
      for (const name of ['rdd_0_1', 'shuffle_3_4_5', 'taskresult_77', 'broadcast_0']) {
        const path = dirs.getFile(name);
        const h = nonNegativeHash(name);
        const root = dirs.rootFolders[h % 2]!;
        expect(path).toBe(`${root}/${(Math.floor(h / 2) % 64).toString(16).padStart(2, '0')}/${name}`);
      }
      // Java's "rdd_0_1".hashCode(), computed independently (Python, Σ c·31^k mod 2^32).
      expect(nonNegativeHash('rdd_0_1')).toBe(1054350997);
      expect(dirs.getFile('rdd_0_1')).toBe(`${dirs.rootFolders[1]}/0a/rdd_0_1`);
    } finally {
      dirs.closeSync();
    }
  });

  test('temporary blocks are temp_local_<uuid> and temp_shuffle_<uuid>', () => {
    const dirs = testDiskBlockManager();
    const local = dirs.createTempLocalBlock();
    const shuffle = dirs.createTempShuffleBlock();
    expect(local.blockId.name).toMatch(/^temp_local_[0-9a-f-]{36}$/);
    expect(shuffle.blockId.name).toMatch(/^temp_shuffle_[0-9a-f-]{36}$/);
    expect(local.path.endsWith(local.blockId.name)).toBe(true);
  });
});
