import { type TungstenConfig } from '../config/options.js';
import type { MemoryManager } from './MemoryManager.js';
import { StaticMemoryManager } from './StaticMemoryManager.js';
import { UnifiedMemoryManager } from './UnifiedMemoryManager.js';

/** The manager the configuration asks for: unified, or static with `memory.useLegacyMode`. */
export function createMemoryManager(config: TungstenConfig): MemoryManager {
  return config['memory.useLegacyMode'] ? StaticMemoryManager.fromConfig(config) : UnifiedMemoryManager.fromConfig(config);
}
