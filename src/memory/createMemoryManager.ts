import { type TungstenConfig } from '../config/options.js';
import { nativeAllocator } from './MemoryBlock.js';
import type { MemoryManager } from './MemoryManager.js';
import { StaticMemoryManager } from './StaticMemoryManager.js';
import { UnifiedMemoryManager } from './UnifiedMemoryManager.js';

/**
 * The manager the configuration asks for: unified, or static with `memory.useLegacyMode`.
 * Applies `memory.debugFill`, when given, to the process's one page allocator (as Spark sets
 * its allocator's debug fill when the executor starts).
 */
export function createMemoryManager(config: TungstenConfig): MemoryManager {
  const debugFill = config['memory.debugFill'];
  if (debugFill !== undefined) nativeAllocator.debugFill = debugFill;
  return config['memory.useLegacyMode'] ? StaticMemoryManager.fromConfig(config) : UnifiedMemoryManager.fromConfig(config);
}
