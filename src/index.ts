/**
 * The public surface of tungsten. Everything a user may import is exported here, and nothing
 * else is public.
 */
export {
  TungstenError,
  InvalidArgumentError,
  InvalidHandleError,
  ConfigError,
  InvalidMemoryError,
  TooLargePageError,
  PageTableFullError,
  InvalidPageStateError,
  OutOfMemoryError,
  SpillAcquiredMemoryError,
  TaskKilledError,
  InternalError,
  UnsupportedTypeError,
  ColumnNotFoundError,
  SchemaMismatchError,
  RecordTooLargeError,
  SpillCorruptError,
  IpcCorruptError,
  DiskFullError,
  IoError,
  ArithmeticOverflowError,
  UnrecognizedBlockIdError,
  BlockNotFoundError,
  BlockCorruptError,
  StorageError,
  ClosedError,
  FetchFailedError,
  JobFailedError,
  JobCancelledError,
  ResultTooLargeError,
  LeakError,
  type ErrorCode,
  type ConsumerUsage,
} from './errors.js';
export {
  resolveConfig,
  describeConfig,
  type TungstenOptions,
  type TungstenConfig,
  type ConfigKey,
} from './config/options.js';
export { parseSize, formatBytes, type Size } from './config/size.js';
export { MemoryMode } from './memory/MemoryMode.js';
export { MemoryManager, defaultPageSizeBytes, type MemorySnapshot, type PoolSnapshot } from './memory/MemoryManager.js';
export { UnifiedMemoryManager, RESERVED_SYSTEM_MEMORY_BYTES } from './memory/UnifiedMemoryManager.js';
export { StaticMemoryManager } from './memory/StaticMemoryManager.js';
export { createMemoryManager } from './memory/createMemoryManager.js';
export { ExecutionMemoryPool, type TaskAttemptId } from './memory/ExecutionMemoryPool.js';
export { StorageMemoryPool, type StorageEvictor } from './memory/StorageMemoryPool.js';
export {
  TaskMemoryManager,
  PAGE_NUMBER_BITS,
  OFFSET_BITS,
  PAGE_TABLE_SIZE,
  MAXIMUM_PAGE_SIZE_BYTES,
  type TaskMemoryManagerOptions,
} from './memory/TaskMemoryManager.js';
export { MemoryConsumer } from './memory/MemoryConsumer.js';
export {
  MemoryBlock,
  nativeAllocator,
  NO_PAGE_NUMBER,
  FREED_IN_TMM_PAGE_NUMBER,
  FREED_IN_ALLOCATOR_PAGE_NUMBER,
} from './memory/MemoryBlock.js';
export { ExternalSorter, type SortKey, type ExternalSorterOptions, type SorterMetrics } from './sort/ExternalSorter.js';
export { type SpillOptions } from './sort/SpillingOperator.js';
export {
  HashAggregator,
  type HashAggregatorOptions,
  type AggregationMetrics,
  type AggregationModeName,
} from './aggregate/HashAggregator.js';
export { type AggregateSpec, type AggregateFunctionName } from './aggregate/aggregates.js';
export { DiskBlockManager } from './storage/DiskBlockManager.js';
export {
  BlockId,
  type RDDBlockId,
  type ShuffleBlockId,
  type BroadcastBlockId,
  type TaskResultBlockId,
  type TempBlockId,
  type TestBlockId,
} from './storage/BlockId.js';
export { StorageLevel, type StorageLevelName } from './storage/StorageLevel.js';
export { BlockInfo, BlockInfoManager, NO_WRITER, NON_TASK_WRITER, type LockOptions } from './storage/BlockInfoManager.js';
export {
  MemoryStore,
  PartiallyUnrolledIterator,
  PartiallySerializedBlock,
  type MemoryStoreOptions,
  type BlockEvictionHandler,
  type EvictedData,
  type UnrollOptions,
  type PutResult,
} from './storage/MemoryStore.js';
export { DiskStore, type DiskStoreOptions } from './storage/DiskStore.js';
export {
  BlockManager,
  BlockResult,
  type BlockManagerOptions,
  type BlockStatus,
  type PutOptions,
  type ReadMethod,
  type RemoteBlockSource,
} from './storage/BlockManager.js';
export { ChunkedBytes, registerLz4, type BlockCompression, type ByteSink } from './storage/serialization.js';
export { Session, type SessionOptions } from './api/Session.js';
export { Dataset, GroupedDataset, type SortOptions, type ActionOptions, type WriteArrowOptions } from './api/Dataset.js';
export { generate, type WorkloadKind, type GenerateOptions } from './api/generator.js';
export type { JobMetrics } from './scheduler/DAGScheduler.js';
export type { TaskMetrics, TaskFailure } from './scheduler/messages.js';
export type { SchedulerEvent, SchedulerListener, TaskInfo } from './scheduler/ListenerBus.js';
