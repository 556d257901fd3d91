import { type TungstenConfig } from '../config/options.js';
import { nativeAllocator } from './MemoryBlock.js';
import type { MemoryManager } from './MemoryManager.js';
import { StaticMemoryManager } from './StaticMemoryManager.js';
import { UnifiedMemoryManager } from './UnifiedMemoryManager.js';

/**
 * The manager the configuration asks for: unified, or static with `memory.useLegacyMode`.
 * Sets up the process's one page allocator as Spark sets up its allocator when the executor
 * starts: `memory.debugFill` when given, and page reuse up to the off-heap budget (the largest
 * budget of any manager created, since the allocator serves them all).
 */
export function createMemoryManager(config: TungstenConfig): MemoryManager {
  const debugFill = config['memory.debugFill'];
  if (debugFill !== undefined) nativeAllocator.debugFill = debugFill;
  nativeAllocator.poolLimit = Math.max(nativeAllocator.poolLimit, config['memory.offHeap.size']);
  return config['memory.useLegacyMode'] ? StaticMemoryManager.fromConfig(config) : UnifiedMemoryManager.fromConfig(config);
}
