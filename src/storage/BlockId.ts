/**
 * Block identifiers, named exactly as Spark names them (BlockId.scala), because the names are
 * also file names on disk and keys a future external shuffle service would look up.
 *
 *   rdd_<rddId>_<splitIndex>                 a cached partition
 *   shuffle_<shuffleId>_<mapId>_<reduceId>   one reducer's segment of a map output
 *   shuffle_<s>_<m>_<r>.data / .index        a map task's data and index files (reduceId 0)
 *   broadcast_<id>[_<field>]                 a broadcast variable (or one of its pieces)
 *   taskresult_<taskId>                      a task result too large to send directly
 *   temp_local_<uuid>, temp_shuffle_<uuid>   scratch files (spills, shuffle writer scratch)
 *   test_<anything>                          tests only
 *
 * Ids are plain frozen objects; two ids are the same block when their `name`s are equal, which
 * is what every map in the storage layer keys on. Numbers are non-negative safe integers (Spark
 * uses Int and Long; above 2^53 the name could not be printed exactly).
 */
import { UnrecognizedBlockIdError, InvalidArgumentError } from '../errors.js';

interface Named<K extends string> {
  readonly kind: K;
  readonly name: string;
}
export interface RDDBlockId extends Named<'rdd'> {
  readonly rddId: number;
  readonly splitIndex: number;
}
export interface ShuffleBlockId extends Named<'shuffle' | 'shuffle_data' | 'shuffle_index'> {
  readonly shuffleId: number;
  readonly mapId: number;
  readonly reduceId: number;
}
export interface BroadcastBlockId extends Named<'broadcast'> {
  readonly broadcastId: number;
  readonly field: string;
}
export interface TaskResultBlockId extends Named<'taskresult'> {
  readonly taskId: number;
}
export interface TempBlockId extends Named<'temp_local' | 'temp_shuffle'> {
  readonly id: string;
}
export interface TestBlockId extends Named<'test'> {
  readonly id: string;
}

export type BlockId = RDDBlockId | ShuffleBlockId | BroadcastBlockId | TaskResultBlockId | TempBlockId | TestBlockId;

function count(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative whole number, got ${String(value)}`);
  }
  return value;
}

function uuidPart(id: string, what: string): string {
  if (!/^[-A-Fa-f0-9]+$/.test(id)) throw new InvalidArgumentError(`${what} must be a uuid (hex digits and '-'), got '${id}'`);
  return id;
}

function shuffleId(kind: ShuffleBlockId['kind'], s: number, m: number, r: number): ShuffleBlockId {
  const suffix = kind === 'shuffle_data' ? '.data' : kind === 'shuffle_index' ? '.index' : '';
  const name = `shuffle_${count(s, 'shuffleId')}_${count(m, 'mapId')}_${count(r, 'reduceId')}${suffix}`;
  return Object.freeze({ kind, name, shuffleId: s, mapId: m, reduceId: r });
}

const PATTERNS: ReadonlyArray<[RegExp, (m: RegExpExecArray) => BlockId]> = [
  [/^rdd_([0-9]+)_([0-9]+)$/, (m) => BlockId.rdd(Number(m[1]), Number(m[2]))],
  [/^shuffle_([0-9]+)_([0-9]+)_([0-9]+)$/, (m) => BlockId.shuffle(Number(m[1]), Number(m[2]), Number(m[3]))],
  [/^shuffle_([0-9]+)_([0-9]+)_([0-9]+)\.data$/, (m) => BlockId.shuffleData(Number(m[1]), Number(m[2]))],
  [/^shuffle_([0-9]+)_([0-9]+)_([0-9]+)\.index$/, (m) => BlockId.shuffleIndex(Number(m[1]), Number(m[2]))],
  // Spark: "broadcast_([0-9]+)([_A-Za-z0-9]*)", the field without its leading '_'.
  [/^broadcast_([0-9]+)([_A-Za-z0-9]*)$/, (m) => BlockId.broadcast(Number(m[1]), m[2]!.replace(/^_/, ''))],
  [/^taskresult_([0-9]+)$/, (m) => BlockId.taskResult(Number(m[1]))],
  [/^temp_local_([-A-Fa-f0-9]+)$/, (m) => BlockId.tempLocal(m[1]!)],
  [/^temp_shuffle_([-A-Fa-f0-9]+)$/, (m) => BlockId.tempShuffle(m[1]!)],
  [/^test_(.*)$/s, (m) => BlockId.test(m[1]!)],
];

export const BlockId = {
  rdd(rddId: number, splitIndex: number): RDDBlockId {
    const name = `rdd_${count(rddId, 'rddId')}_${count(splitIndex, 'splitIndex')}`;
    return Object.freeze({ kind: 'rdd', name, rddId, splitIndex });
  },
  shuffle: (s: number, m: number, r: number): ShuffleBlockId => shuffleId('shuffle', s, m, r),
  /** Spark's ShuffleDataBlockId; the reduce id is always 0 (NOOP_REDUCE_ID). */
  shuffleData: (s: number, m: number): ShuffleBlockId => shuffleId('shuffle_data', s, m, 0),
  shuffleIndex: (s: number, m: number): ShuffleBlockId => shuffleId('shuffle_index', s, m, 0),
  broadcast(broadcastId: number, field = ''): BroadcastBlockId {
    if (!/^[_A-Za-z0-9]*$/.test(field)) throw new InvalidArgumentError(`a broadcast field is letters, digits and '_', got '${field}'`);
    const name = `broadcast_${count(broadcastId, 'broadcastId')}${field === '' ? '' : `_${field}`}`;
    return Object.freeze({ kind: 'broadcast', name, broadcastId, field });
  },
  taskResult(taskId: number): TaskResultBlockId {
    return Object.freeze({ kind: 'taskresult', name: `taskresult_${count(taskId, 'taskId')}`, taskId });
  },
  tempLocal(id: string): TempBlockId {
    return Object.freeze({ kind: 'temp_local', name: `temp_local_${uuidPart(id, 'id')}`, id });
  },
  tempShuffle(id: string): TempBlockId {
    return Object.freeze({ kind: 'temp_shuffle', name: `temp_shuffle_${uuidPart(id, 'id')}`, id });
  },
  test(id: string): TestBlockId {
    return Object.freeze({ kind: 'test', name: `test_${id}`, id });
  },

  /** Parses a name as Spark's BlockId.apply; anything else is UnrecognizedBlockIdError. */
  parse(name: string): BlockId {
    if (typeof name === 'string') {
      for (const [pattern, make] of PATTERNS) {
        const match = pattern.exec(name);
        if (!match) continue;
        try {
          return make(match);
        } catch (error) {
          // Digits beyond the safe-integer range.
          if (error instanceof InvalidArgumentError) break;
          throw error;
        }
      }
    }
    throw new UnrecognizedBlockIdError(String(name));
  },

  isRDD(id: BlockId): id is RDDBlockId {
    return id.kind === 'rdd';
  },
};
