/**
 * Every error the engine raises on purpose, in one place, each with a stable `code`.
 *
 * The addon raises these too: src/native/addon.ts registers {@link errorFromCode} with the
 * addon at load time, so a native failure arrives in JavaScript as the same class TypeScript
 * would throw. Callers branch on `code` (stable across releases) or on the class.
 */

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_HANDLE'
  | 'INVALID_CONFIG'
  | 'INVALID_DRIVER_MEMORY'
  | 'INVALID_EXECUTOR_MEMORY'
  | 'TOO_LARGE_PAGE'
  | 'PAGE_TABLE_FULL'
  | 'INVALID_PAGE_STATE'
  | 'OUT_OF_MEMORY'
  | 'SPILL_FAILED'
  | 'SPILL_ACQUIRED_MEMORY'
  | 'TASK_KILLED'
  | 'NATIVE_OUT_OF_MEMORY'
  | 'INVARIANT_VIOLATED'
  | 'UNSUPPORTED_TYPE'
  | 'COLUMN_NOT_FOUND'
  | 'SCHEMA_MISMATCH'
  | 'RECORD_TOO_LARGE'
  | 'SPILL_CORRUPT'
  | 'IPC_CORRUPT'
  | 'DISK_FULL'
  | 'IO_ERROR'
  | 'ARITHMETIC_OVERFLOW'
  | 'UNRECOGNIZED_BLOCK_ID'
  | 'BLOCK_NOT_FOUND'
  | 'BLOCK_CORRUPT'
  | 'INTERNAL_ERROR_STORAGE'
  | 'CLOSED'
  | 'FETCH_FAILED'
  | 'JOB_FAILED'
  | 'JOB_CANCELLED'
  | 'RESULT_TOO_LARGE'
  | 'MEMORY_LEAK'
  | 'LOCK_LEAK'
  | 'INTERNAL';

export class TungstenError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A value passed to an API is outside what it accepts. */
export class InvalidArgumentError extends TungstenError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** A native handle of the wrong kind, or one already closed, was passed to the addon. */
export class InvalidHandleError extends TungstenError {
  constructor(message: string) {
    super('INVALID_HANDLE', message);
  }
}

/** A configuration key is unknown or its value makes no sense. `key` names it. */
export class ConfigError extends TungstenError {
  readonly key: string;

  constructor(key: string, message: string) {
    super('INVALID_CONFIG', `${key}: ${message}`);
    this.key = key;
  }
}

/**
 * The memory the engine was given is below the minimum Spark demands (1.5 × the reserved
 * memory). `code` is INVALID_DRIVER_MEMORY for the system memory, INVALID_EXECUTOR_MEMORY for
 * `executor.memory`, as Spark's error classes.
 */
export class InvalidMemoryError extends TungstenError {
  readonly systemMemory: number;
  readonly minSystemMemory: number;
  readonly config: string;

  constructor(
    code: 'INVALID_DRIVER_MEMORY' | 'INVALID_EXECUTOR_MEMORY',
    systemMemory: number,
    minSystemMemory: number,
    config: string,
  ) {
    const what = code === 'INVALID_DRIVER_MEMORY' ? 'System memory' : 'Executor memory';
    super(
      code,
      `${what} ${systemMemory} must be at least ${minSystemMemory}. ` +
        `Please increase the memory using the ${config} setting.`,
    );
    this.systemMemory = systemMemory;
    this.minSystemMemory = minSystemMemory;
    this.config = config;
  }
}

/** A page above the maximum page size, (2^31 − 1) × 8 bytes, was requested. */
export class TooLargePageError extends TungstenError {
  constructor(message: string) {
    super('TOO_LARGE_PAGE', message);
  }
}

/** A task already holds 8192 pages, the most its page table can address. */
export class PageTableFullError extends TungstenError {
  constructor(message: string) {
    super('PAGE_TABLE_FULL', message);
  }
}

/** A page was freed twice, through the wrong door, or by a task that does not own it. */
export class InvalidPageStateError extends TungstenError {
  constructor(message: string) {
    super('INVALID_PAGE_STATE', message);
  }
}

/** One consumer of a task and what it held when memory ran out. */
export interface ConsumerUsage {
  readonly name: string;
  readonly mode: string;
  readonly used: number;
}

/**
 * The task could not get the memory it needed even after spilling (Spark's
 * SparkOutOfMemoryError). `consumers` lists what each consumer of the task held at the time;
 * the message includes the same list. `code` is SPILL_FAILED when a spill threw.
 */
export class OutOfMemoryError extends TungstenError {
  readonly consumers: readonly ConsumerUsage[];

  constructor(
    message: string,
    consumers: readonly ConsumerUsage[] = [],
    options?: { cause?: unknown; code?: 'OUT_OF_MEMORY' | 'SPILL_FAILED' },
  ) {
    super(options?.code ?? 'OUT_OF_MEMORY', message, options);
    this.consumers = consumers;
  }
}

/** A spill() callback tried to acquire memory, which would deadlock the task. */
export class SpillAcquiredMemoryError extends TungstenError {
  constructor(message: string) {
    super('SPILL_ACQUIRED_MEMORY', message);
  }
}

/** The task was killed (cancelled) while it waited or worked. */
export class TaskKilledError extends TungstenError {
  readonly reason: string;

  constructor(reason: string) {
    super('TASK_KILLED', `Task killed: ${reason}`);
    this.reason = reason;
  }
}

/** A bug in the engine: an internal invariant does not hold, or native code failed oddly. */
export class InternalError extends TungstenError {
  constructor(code: 'INVARIANT_VIOLATED' | 'NATIVE_OUT_OF_MEMORY' | 'INTERNAL', message: string) {
    super(code, message);
  }
}

/** A column's Arrow type cannot be sorted or carried. `column` and `type` name it. */
export class UnsupportedTypeError extends TungstenError {
  readonly column: string;
  readonly type: string;

  constructor(column: string, type: string, supported: string) {
    super('UNSUPPORTED_TYPE', `column "${column}" has type ${type}, which is not supported; supported types: ${supported}`);
    this.column = column;
    this.type = type;
  }
}

/** A column named by the caller is not in the schema. */
export class ColumnNotFoundError extends TungstenError {
  readonly column: string;

  constructor(column: string, available: readonly string[]) {
    super('COLUMN_NOT_FOUND', `column "${column}" does not exist; the columns are ${available.map((c) => `"${c}"`).join(', ')}`);
    this.column = column;
  }
}

/** A batch does not have the schema the operator was created with. */
export class SchemaMismatchError extends TungstenError {
  constructor(message: string) {
    super('SCHEMA_MISMATCH', message);
  }
}

/** One row is larger than a record may be (4 GiB − 1 bytes) or than the largest page. */
export class RecordTooLargeError extends TungstenError {
  constructor(message: string) {
    super('RECORD_TOO_LARGE', message);
  }
}

/** A spill file failed its checksum, was truncated or is not a spill file. */
export class SpillCorruptError extends TungstenError {
  constructor(message: string) {
    super('SPILL_CORRUPT', message);
  }
}

/** Arrow IPC bytes (a shuffle segment's message or LZ4 frame) that cannot be decoded. */
export class IpcCorruptError extends TungstenError {
  constructor(message: string) {
    super('IPC_CORRUPT', message);
  }
}

/** The spill device is full. Free space there or point the local directories elsewhere. */
export class DiskFullError extends TungstenError {
  constructor(message: string) {
    super('DISK_FULL', message);
  }
}

/** A spill file or directory could not be created, written, read or removed. */
export class IoError extends TungstenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('IO_ERROR', message, options);
  }
}

/** An integer sum left the int64 range (Spark's ANSI-mode overflow); the message names the
 *  aggregate. Sum a float64 cast of the column for an approximate result. */
export class ArithmeticOverflowError extends TungstenError {
  constructor(message: string) {
    super('ARITHMETIC_OVERFLOW', message);
  }
}

/** A block name that is none of Spark's block id forms (rdd_1_2, shuffle_0_1_2, …). */
export class UnrecognizedBlockIdError extends TungstenError {
  readonly blockName: string;

  constructor(name: string) {
    super('UNRECOGNIZED_BLOCK_ID', `Failed to parse ${name} into a block id`);
    this.blockName = name;
  }
}

/** The block is in no store of this executor (and no remote source had it). */
export class BlockNotFoundError extends TungstenError {
  readonly blockName: string;

  constructor(name: string, detail = '') {
    super('BLOCK_NOT_FOUND', `Block ${name} not found${detail === '' ? '' : `: ${detail}`}`);
    this.blockName = name;
  }
}

/**
 * A block's bytes are not what was stored: a file shorter or longer than written, a checksum
 * that does not match, or bytes that are not an Arrow IPC stream. The block is unusable; the
 * caller recomputes it (a cached partition) or re-runs its producer (a shuffle output).
 */
export class BlockCorruptError extends TungstenError {
  readonly blockName: string;

  constructor(name: string, detail: string, options?: { cause?: unknown }) {
    super('BLOCK_CORRUPT', `Block ${name} is corrupt: ${detail}`, options);
    this.blockName = name;
  }
}

/**
 * The storage layer was used against its rules: a lock released that was not held, a block
 * removed without its write lock, a block that does not exist (Spark's error class
 * INTERNAL_ERROR_STORAGE, with Spark's messages). A bug in the caller, not bad data.
 */
export class StorageError extends TungstenError {
  constructor(message: string) {
    super('INTERNAL_ERROR_STORAGE', message);
  }
}

/** The object was closed; create a new one. */
export class ClosedError extends TungstenError {
  constructor(what: string) {
    super('CLOSED', `${what} is closed`);
  }
}

/**
 * A reduce task could not read a map output's segment: the file is gone, short, or its bytes do
 * not match their checksum (Spark's FetchFailedException). The scheduler answers by
 * re-running the map stage that produced it, not by retrying the reduce task alone.
 */
export class FetchFailedError extends TungstenError {
  constructor(
    readonly executorId: string,
    readonly shuffleId: number,
    readonly mapId: number,
    readonly mapIndex: number,
    readonly reduceId: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super('FETCH_FAILED', `Failed to fetch shuffle_${shuffleId}_${mapId}_${reduceId} (map ${mapIndex} on executor ${executorId}): ${message}`, options);
  }
}

/**
 * A job failed: a task failed `task.maxFailures` times, or a stage was aborted. `cause` is the
 * last task's error (its class and code), when there was one.
 */
export class JobFailedError extends TungstenError {
  constructor(message: string, options?: ErrorOptions) {
    super('JOB_FAILED', message, options);
  }
}

/** The job was cancelled (session.cancelJob, an AbortSignal, or session.close()). */
export class JobCancelledError extends TungstenError {
  constructor(message: string) {
    super('JOB_CANCELLED', message);
  }
}

/** The results of a job are larger than driver.maxResultSize (Spark's message). */
export class ResultTooLargeError extends TungstenError {
  constructor(message: string) {
    super('RESULT_TOO_LARGE', message);
  }
}

/** A task returned while holding memory or block locks, and unsafe.exceptionOnMemoryLeak or
 *  storage.exceptionOnPinLeak asked for an error (Spark's messages). */
export class LeakError extends TungstenError {
  constructor(code: 'MEMORY_LEAK' | 'LOCK_LEAK', message: string) {
    super(code, message);
  }
}

/** Builds the error for a code raised by native code; also the addon's error factory. */
export function errorFromCode(code: string, message: string): TungstenError {
  switch (code) {
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(message);
    case 'INVALID_HANDLE':
      return new InvalidHandleError(message);
    case 'TOO_LARGE_PAGE':
      return new TooLargePageError(message);
    case 'PAGE_TABLE_FULL':
      return new PageTableFullError(message);
    case 'INVALID_PAGE_STATE':
      return new InvalidPageStateError(message);
    case 'RECORD_TOO_LARGE':
      return new RecordTooLargeError(message);
    case 'SPILL_CORRUPT':
      return new SpillCorruptError(message);
    case 'IPC_CORRUPT':
      return new IpcCorruptError(message);
    case 'DISK_FULL':
      return new DiskFullError(message);
    case 'IO_ERROR':
      return new IoError(message);
    case 'ARITHMETIC_OVERFLOW':
      return new ArithmeticOverflowError(message);
    case 'NATIVE_OUT_OF_MEMORY':
    case 'INVARIANT_VIOLATED':
      return new InternalError(code, message);
    default:
      return new InternalError('INTERNAL', `${code}: ${message}`);
  }
}

/** The codes native code may raise; test/native checks the addon's list against this one. */
export const NATIVE_ERROR_CODES: readonly ErrorCode[] = [
  'INVALID_ARGUMENT',
  'TOO_LARGE_PAGE',
  'PAGE_TABLE_FULL',
  'INVALID_PAGE_STATE',
  'RECORD_TOO_LARGE',
  'SPILL_CORRUPT',
  'IPC_CORRUPT',
  'DISK_FULL',
  'IO_ERROR',
  'ARITHMETIC_OVERFLOW',
  'INVALID_HANDLE',
  'NATIVE_OUT_OF_MEMORY',
  'INTERNAL',
];
