import { resolveConfig } from '../../src/config/options.js';
import { MemoryMode } from '../../src/memory/MemoryMode.js';
import { UnifiedMemoryManager } from '../../src/memory/UnifiedMemoryManager.js';
import { FakeEvictor } from '../support/FakeEvictor.js';
import { track } from '../support/leaks.js';

/**
 * Setup U(total) of spark-semantics §1.9: unified manager, fraction 1.0, no reserve, one core,
 * `total` bytes in the given mode (the other mode gets `otherModeTotal`), with the recording
 * fake evictor.
 */
export function unified(
  mode: MemoryMode,
  total = 1000,
  options: { storageFraction?: number; otherModeTotal?: number } = {},
): { mm: UnifiedMemoryManager; evictor: FakeEvictor } {
  const other = options.otherModeTotal ?? 1000;
  const config = resolveConfig({
    'testing.memory': mode === MemoryMode.ON_HEAP ? total : other,
    'testing.reservedMemory': 0,
    'memory.fraction': 1,
    'memory.storageFraction': options.storageFraction ?? 0.5,
    'memory.offHeap.size': mode === MemoryMode.OFF_HEAP ? total : Math.max(other, 1),
    'executor.cores': 1,
  });
  const mm = track(UnifiedMemoryManager.fromConfig(config));
  return { mm, evictor: new FakeEvictor(mm) };
}

/** Resolves when the event loop has run everything already queued (pending waits included). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
