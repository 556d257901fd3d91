/**
 * Configuration: one typed options object, Spark's keys and defaults.
 *
 * A key is Spark's name without the `spark.` prefix (`memory.fraction`, `memory.offHeap.size`).
 * It may be given nested (`{ memory: { offHeap: { size: '2g' } } }`), dotted
 * (`{ 'memory.offHeap.size': '2g' }`) or under Spark's own name
 * (`{ 'spark.memory.offHeap.size': '2g' }`), so a tuned Spark configuration carries over.
 * Unknown keys, a key given twice, and values out of range throw ConfigError naming the key.
 *
 * Where the engine departs from Spark's defaults, and why:
 * - `memory.offHeap.enabled` defaults to true and `memory.offHeap.size` to 1g: Tungsten pages are
 *   always native memory here, so the off-heap pools are the engine's main budget. Setting
 *   `enabled` to false is rejected with a message that says so.
 * - `executor.memory` (default 1g, Spark's) sizes the ON_HEAP pools, which account the
 *   JavaScript memory the engine holds on purpose (Arrow batches in the memory store).
 * - `memory.debugFill` (Spark's key), when given, turns the allocator's fill patterns on or off
 *   for the whole process (createMemoryManager applies it); unset, debug builds fill and
 *   release builds do not.
 */
import { availableParallelism } from 'node:os';
import { ConfigError, InvalidArgumentError } from '../errors.js';
import { parseSize, type Size } from './size.js';

/** A key: how to parse it, its default, its doc line; `I` is the type users may give. */
interface Definition<T, I = T> {
  readonly parse: (value: unknown) => T;
  readonly default: T;
  readonly doc: string;
  /** Type-level only: what a user may write for this key. */
  readonly input?: I;
}

function sizeKey(defaultBytes: number, doc: string, min = 0): Definition<number, Size> {
  return {
    parse: (value) => {
      const bytes = parseSize(value as Size);
      if (bytes < min) throw new InvalidArgumentError(`must be at least ${min} bytes`);
      return bytes;
    },
    default: defaultBytes,
    doc,
  };
}

function optionalSizeKey(doc: string): Definition<number | undefined, Size> {
  return { parse: (value) => parseSize(value as Size), default: undefined, doc };
}

function fractionKey(defaultValue: number, doc: string): Definition<number> {
  return {
    parse: (value) => {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        throw new InvalidArgumentError(`${String(value)} is not a fraction: give a number from 0 to 1`);
      }
      return value;
    },
    default: defaultValue,
    doc,
  };
}

function booleanKey(defaultValue: boolean, doc: string): Definition<boolean, boolean | 'true' | 'false'> {
  return {
    parse: (value) => {
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw new InvalidArgumentError(`${String(value)} is not a boolean: give true or false`);
    },
    default: defaultValue,
    doc,
  };
}

function optionalBooleanKey(doc: string): Definition<boolean | undefined, boolean | 'true' | 'false'> {
  return { ...booleanKey(false, doc), default: undefined };
}

function positiveIntegerKey(defaultValue: number, doc: string): Definition<number, number | `${number}`> {
  return {
    parse: (value) => {
      const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
        throw new InvalidArgumentError(`${String(value)} is not a positive whole number`);
      }
      return n;
    },
    default: defaultValue,
    doc,
  };
}

function numberAboveOneKey(defaultValue: number, doc: string): Definition<number> {
  return {
    parse: (value) => {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !(n > 1) || !Number.isFinite(n)) {
        throw new InvalidArgumentError(`${String(value)} is not a number above 1`);
      }
      return n;
    },
    default: defaultValue,
    doc,
  };
}

function directoriesKey(doc: string): Definition<readonly string[] | undefined, string | readonly string[]> {
  return {
    parse: (value) => {
      const list = typeof value === 'string' ? value.split(',').map((d) => d.trim()) : value;
      if (!Array.isArray(list) || list.length === 0 || !list.every((d) => typeof d === 'string' && d !== '')) {
        throw new InvalidArgumentError(`${String(value)} is not a list of folders: give 'a,b' or ['a', 'b']`);
      }
      return Object.freeze([...list]);
    },
    default: undefined,
    doc,
  };
}

function optionalPositiveIntegerKey(doc: string): Definition<number | undefined, number | `${number}`> {
  const key = positiveIntegerKey(1, doc);
  return { parse: key.parse, default: undefined, doc };
}

function optionalStringKey(doc: string): Definition<string | undefined, string> {
  return {
    parse: (value) => {
      if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(`${String(value)} is not a path`);
      return value;
    },
    default: undefined,
    doc,
  };
}

const GiB = 2 ** 30;

const DEFINITIONS = {
  'executor.memory': sizeKey(GiB, 'memory of the executor; sizes the ON_HEAP pools'),
  'executor.cores': positiveIntegerKey(availableParallelism(), 'task slots; default: the machine\'s cores'),
  'memory.fraction': fractionKey(0.6, 'share of (memory − reserved) for execution and storage'),
  'memory.storageFraction': fractionKey(0.5, 'share of that which storage keeps from eviction'),
  'memory.offHeap.enabled': booleanKey(true, 'Tungsten pages are off-heap; must stay true'),
  'memory.offHeap.size': sizeKey(GiB, 'the native memory budget for pages and off-heap storage'),
  'memory.useLegacyMode': booleanKey(false, 'use the StaticMemoryManager (Spark ≤ 2.4)'),
  'memory.debugFill': optionalBooleanKey('fill fresh pages with 0xa5, freed ones with 0x5a; default: on in debug builds'),
  'buffer.pageSize': optionalSizeKey('Tungsten page size; default: computed from the pool and cores'),
  'shuffle.memoryFraction': fractionKey(0.2, 'legacy mode: share of memory for execution'),
  'shuffle.safetyFraction': fractionKey(0.8, 'legacy mode: safety margin on execution'),
  'storage.memoryFraction': fractionKey(0.6, 'legacy mode: share of memory for storage'),
  'storage.safetyFraction': fractionKey(0.9, 'legacy mode: safety margin on storage'),
  'storage.unrollFraction': fractionKey(0.2, 'legacy mode: share of storage unrolling may evict'),
  'local.dir': directoriesKey('folders for spill and block files (comma-separated); default: the system temp folder'),
  'rdd.compress': booleanKey(true, 'LZ4-compress serialized cached blocks (Spark: false; here on, as cached blocks are Arrow IPC)'),
  'storage.unrollMemoryThreshold': sizeKey(2 ** 20, 'unroll memory reserved before caching a block', 1),
  'storage.unrollMemoryCheckPeriod': positiveIntegerKey(16, 'batches between size checks while caching a block'),
  'storage.unrollMemoryGrowthFactor': numberAboveOneKey(1.5, 'growth of the unroll reservation at each check'),
  'storage.memoryMapThreshold': sizeKey(2 * 2 ** 20, 'block files larger than this are read in chunks'),
  'task.maxFailures': positiveIntegerKey(4, 'attempts of a task before its job fails'),
  'task.maxDirectResultSize': sizeKey(2 ** 20, 'results larger than this go through the block manager'),
  'rpc.message.maxSize': sizeKey(128 * 2 ** 20, 'caps direct results too (Spark: in MiB; here a size)'),
  'driver.maxResultSize': sizeKey(GiB, 'total result bytes of a job before it fails; 0: unlimited'),
  'stage.maxConsecutiveAttempts': positiveIntegerKey(4, 'attempts of a stage after fetch failures'),
  'executor.heartbeatInterval': positiveIntegerKey(10_000, 'milliseconds between executor heartbeats'),
  'unsafe.exceptionOnMemoryLeak': booleanKey(false, 'a task that returns holding memory fails instead of warning'),
  'storage.exceptionOnPinLeak': booleanKey(false, 'a task that returns holding block locks fails instead of warning'),
  'sql.shuffle.partitions': positiveIntegerKey(200, 'partitions of a groupBy or sortBy shuffle'),
  'sql.adaptive.coalescePartitions.enabled': booleanKey(true, 'a sortBy or groupBy result stage reads neighbouring small shuffle partitions in one task (Spark\'s adaptive coalescing)'),
  'sql.adaptive.advisoryPartitionSizeInBytes': sizeKey(16 * 2 ** 20, 'the shuffle bytes a coalesced task aims at (Spark: 64m)', 1),
  'sql.adaptive.coalescePartitions.minPartitionSize': sizeKey(2 ** 20, 'coalesced tasks aim at no fewer shuffle bytes than this', 1),
  'sql.adaptive.coalescePartitions.parallelismFirst': booleanKey(true, 'coalesce to no fewer tasks than default.parallelism while partitions are above minPartitionSize'),
  'default.parallelism': optionalPositiveIntegerKey('input partitions of a source; default: executor.cores'),
  'aggregate.skipPartialRatio': fractionKey(0.8, 'a partial aggregation whose groups are more than this share of its first rows passes the rest through (DataFusion\'s rule; Spark: never); 1: never'),
  'aggregate.skipPartialProbeRows': positiveIntegerKey(100_000, 'input rows a partial aggregation reads before it decides whether to pass the rest through'),
  'shuffle.sort.bypassMergeThreshold': positiveIntegerKey(200, 'most partitions for the bypass shuffle writer'),
  'shuffle.file.buffer': sizeKey(32 * 1024, 'write buffer of the unsafe shuffle writer\'s spill files', 1),
  'shuffle.compress': booleanKey(true, 'LZ4_FRAME-compress shuffle segments'),
  'reducer.maxSizeInFlight': sizeKey(48 * 2 ** 20, 'bytes of shuffle segments fetched and not yet read', 1),
  'reducer.maxReqsInFlight': positiveIntegerKey(Number.MAX_SAFE_INTEGER, 'fetch requests in flight'),
  'reducer.maxBlocksInFlightPerAddress': positiveIntegerKey(Number.MAX_SAFE_INTEGER, 'blocks per fetch request'),
  'eventLog.path': optionalStringKey('write every job, stage and task event to this JSON-lines file'),
  'testing.memory': optionalSizeKey('system memory override (tests); default: executor.memory'),
  'testing.reservedMemory': optionalSizeKey('reserved memory override (tests); default: 300m'),
} as const satisfies Record<string, Definition<unknown, unknown>>;

export type ConfigKey = keyof typeof DEFINITIONS;
type ValueOf<K extends ConfigKey> = (typeof DEFINITIONS)[K]['default'];

/** The resolved configuration: every key with its value, defaults filled in. */
export type TungstenConfig = { readonly [K in ConfigKey]: ValueOf<K> };

type InputOf<K extends ConfigKey> = NonNullable<(typeof DEFINITIONS)[K]['input']>;

/** The options a user may pass: nested objects, dotted keys or Spark's `spark.` keys. */
export type TungstenOptions = NestedOptions & { [K in ConfigKey]?: InputOf<K> } & {
  /** Spark's names, e.g. `'spark.memory.fraction': 0.6`. */
  [sparkKey: `spark.${string}`]: unknown;
};

interface NestedOptions {
  executor?: { memory?: Size; cores?: number };
  memory?: {
    fraction?: number;
    storageFraction?: number;
    useLegacyMode?: boolean;
    debugFill?: boolean;
    offHeap?: { enabled?: boolean; size?: Size };
  };
  buffer?: { pageSize?: Size };
  shuffle?: { memoryFraction?: number; safetyFraction?: number };
  storage?: {
    memoryFraction?: number;
    safetyFraction?: number;
    unrollFraction?: number;
    unrollMemoryThreshold?: Size;
    unrollMemoryCheckPeriod?: number;
    unrollMemoryGrowthFactor?: number;
    memoryMapThreshold?: Size;
  };
  local?: { dir?: string | readonly string[] };
  rdd?: { compress?: boolean };
  testing?: { memory?: Size; reservedMemory?: Size };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Flattens nested option objects into dotted keys. */
function flatten(options: Record<string, unknown>, prefix: string, into: Map<string, [string, unknown]>): void {
  for (const [name, value] of Object.entries(options)) {
    const given = prefix + name;
    if (value === undefined) continue;
    if (isPlainObject(value)) {
      flatten(value, `${given}.`, into);
      continue;
    }
    const key = given.startsWith('spark.') ? given.slice('spark.'.length) : given;
    const earlier = into.get(key);
    if (earlier) throw new ConfigError(key, `given twice, as ${earlier[0]} and as ${given}; keep one`);
    into.set(key, [given, value]);
  }
}

function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(DEFINITIONS, key);
}

/** Resolves options into a complete configuration, or throws ConfigError naming the key. */
export function resolveConfig(options: TungstenOptions = {}): TungstenConfig {
  if (!isPlainObject(options)) {
    throw new ConfigError('(options)', 'options must be a plain object');
  }
  const given = new Map<string, [string, unknown]>();
  flatten(options, '', given);
  const resolved: Record<string, unknown> = {};
  for (const key of Object.keys(DEFINITIONS) as ConfigKey[]) resolved[key] = DEFINITIONS[key].default;
  for (const [key, [as, value]] of given) {
    if (!isConfigKey(key)) {
      throw new ConfigError(as, `unknown key; known keys are ${Object.keys(DEFINITIONS).join(', ')}`);
    }
    try {
      resolved[key] = DEFINITIONS[key].parse(value);
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw new ConfigError(as, error.message);
      throw error;
    }
  }
  const config = resolved as TungstenConfig;
  if (!config['memory.offHeap.enabled']) {
    throw new ConfigError(
      'memory.offHeap.enabled',
      'Tungsten pages are always native (off-heap) memory here; remove the key or set it to true, ' +
        'and size the budget with memory.offHeap.size',
    );
  }
  if (config['memory.offHeap.size'] <= 0) {
    throw new ConfigError('memory.offHeap.size', 'must be > 0 when memory.offHeap.enabled == true');
  }
  return Object.freeze(config);
}

/** Each key with its default and a line of documentation, for help texts and the README. */
export function describeConfig(): Array<{ key: ConfigKey; default: unknown; doc: string }> {
  return (Object.keys(DEFINITIONS) as ConfigKey[]).map((key) => ({
    key,
    default: DEFINITIONS[key].default,
    doc: DEFINITIONS[key].doc,
  }));
}
