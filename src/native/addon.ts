/**
 * The typed contract of the native addon (build/Release/tungsten.node): every function it
 * exports, with the types it accepts and returns. This is the only file that loads the addon;
 * everything else imports {@link addon} from here.
 *
 * Conventions across the boundary:
 * - byte counts are JavaScript numbers holding whole numbers in [0, 2^53 − 1];
 * - record addresses and raw base addresses are `bigint` (64-bit unsigned patterns);
 * - handles are opaque branded objects, checked by type tag on every call: a handle of the
 *   wrong kind, or a closed one, throws InvalidHandleError rather than crashing;
 * - failures arrive as the classes of src/errors.ts (the factory is registered below).
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorFromCode } from '../errors.js';

declare const pageTableBrand: unique symbol;
declare const blockBrand: unique symbol;
/** A task's native page table. Closed by {@link NativeAddon.pageTableClose}. */
export type PageTableHandle = { readonly [pageTableBrand]: true };
/** A native memory block: a page of a page table, or a direct allocation. */
export type BlockHandle = { readonly [blockBrand]: true };

export interface AllocatorStats {
  liveBytes: number;
  liveBlocks: number;
  peakLiveBytes: number;
  totalAllocations: number;
}

export interface NativeAddon {
  setErrorFactory(factory: (code: string, message: string) => Error): void;
  /** Every error code the addon can raise. */
  errorCodes(): string[];

  allocatorStats(): AllocatorStats;
  allocatorSetDebugFill(on: boolean): void;
  allocatorDebugFill(): boolean;
  /** Test hook: the next `count` allocations fail as if the system were out of memory. */
  allocatorFailNextAllocations(count: number): void;
  /** Allocates directly (page number −1); null when the system has no memory. */
  allocatorAllocate(size: number): BlockHandle | null;
  allocatorFree(block: BlockHandle): void;

  blockPageNumber(block: BlockHandle): number;
  blockSize(block: BlockHandle): number;
  blockBaseAddress(block: BlockHandle): bigint;

  pageTableCreate(): PageTableHandle;
  /** Allocates exactly `grantedBytes`, which the caller already acquired; null if the system
   *  has no memory (the page number is given back). */
  pageTableAllocatePage(table: PageTableHandle, grantedBytes: number): BlockHandle | null;
  pageTableFreePage(table: PageTableHandle, block: BlockHandle): void;
  /** Frees every live page; returns their bytes. */
  pageTableFreeAllPages(table: PageTableHandle): number;
  pageTableLivePages(table: PageTableHandle): number;
  pageTableEncodeAbsolute(table: PageTableHandle, page: BlockHandle, absoluteAddress: bigint): bigint;
  pageTableAbsoluteAddress(table: PageTableHandle, address: bigint): bigint;
  /** Frees every live page and closes the handle; returns the bytes freed. Idempotent. */
  pageTableClose(table: PageTableHandle): number;

  encodePageNumberAndOffset(pageNumber: number, offset: bigint): bigint;
  decodePageNumber(address: bigint): number;
  decodeOffset(address: bigint): bigint;

  readonly constants: {
    readonly PAGE_NUMBER_BITS: number;
    readonly OFFSET_BITS: number;
    readonly PAGE_TABLE_SIZE: number;
    readonly MAXIMUM_PAGE_SIZE_BYTES: number;
  };
}

/** The folder of tungsten's package.json above this module (src/, dist/ or a bench build). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tungsten') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find tungsten's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function loadAddon(): NativeAddon {
  const path = join(packageRoot(), 'build', 'Release', 'tungsten.node');
  if (!existsSync(path)) {
    throw new Error(
      `The tungsten native addon is not built (${path} is missing). ` +
        'Run `npm install` (or `npm run build:addon`) in the package folder.',
    );
  }
  const loaded = createRequire(import.meta.url)(path) as NativeAddon;
  loaded.setErrorFactory(errorFromCode);
  return loaded;
}

export const addon: NativeAddon = loadAddon();
