/**
 * Which budget a byte is counted against.
 * - OFF_HEAP: native memory. Every Tungsten page is OFF_HEAP, and so is serialized storage at
 *   the OFF_HEAP storage level.
 * - ON_HEAP: JavaScript memory the engine holds on purpose (Arrow batches in the memory store),
 *   counted by exact buffer sizes.
 */
export const MemoryMode = {
  ON_HEAP: 'ON_HEAP',
  OFF_HEAP: 'OFF_HEAP',
} as const;
export type MemoryMode = (typeof MemoryMode)[keyof typeof MemoryMode];
