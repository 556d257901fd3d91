/**
 * Where blocks and spill files live on disk (Spark's DiskBlockManager, spark-semantics §2.5):
 * one `blockmgr-<uuid>` folder in each configured local directory (spark.local.dir), created on
 * first use, and 64 sub-folders (`00`…`3f`) in each, created lazily.
 *
 * A block's file is found from its name alone, as Spark's getFile does (and as an external
 * shuffle service must, ExecutorDiskUtils.getFilePath):
 *   h = nonNegativeHash(name)            Java's String.hashCode, absolute, 0 for Int.MinValue
 *   dirId = h % numLocalDirs,  subDirId = ⌊h / numLocalDirs⌋ % 64,  folder "%02x" of subDirId
 *
 * Temporary blocks (spill files, shuffle scratch) are `temp_local_<uuid>` and
 * `temp_shuffle_<uuid>`; a new uuid is drawn until no file has the name. Everything is removed
 * by closeSync(), and at process exit for managers the caller left open.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoError } from '../errors.js';
import { BlockId } from './BlockId.js';

/** spark.diskStore.subDirectories. */
export const SUB_DIRS_PER_LOCAL_DIR = 64;
const open = new Set<DiskBlockManager>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const manager of open) manager.closeSync();
  });
}

export class DiskBlockManager {
  private readonly roots: string[] = [];
  private readonly created = new Set<string>();
  private closed = false;

  constructor(readonly localDirs: readonly string[] = [tmpdir()]) {
    if (localDirs.length === 0) throw new IoError('at least one local directory is needed');
  }

  /** The file of a block (or any name); its folders are created here if need be. */
  getFile(name: string | BlockId): string {
    const fileName = typeof name === 'string' ? name : name.name;
    if (this.closed) throw new IoError('the disk block manager was closed');
    if (this.roots.length === 0) this.createRoots();
    const h = nonNegativeHash(fileName);
    const root = this.roots[h % this.roots.length]!;
    const subDirId = Math.floor(h / this.roots.length) % SUB_DIRS_PER_LOCAL_DIR;
    const sub = join(root, subDirId.toString(16).padStart(2, '0'));
    if (!this.created.has(sub)) {
      try {
        mkdirSync(sub, { recursive: true });
      } catch (error) {
        throw new IoError(`cannot create ${sub}: ${(error as Error).message}`, { cause: error });
      }
      this.created.add(sub);
    }
    return join(sub, fileName);
  }

  /** A fresh temp_local block and its file (spill files). */
  createTempLocalBlock(): { blockId: BlockId; path: string } {
    return this.createTempBlock(() => BlockId.tempLocal(randomUUID()));
  }

  /** A fresh temp_shuffle block and its file (a shuffle writer's scratch output). */
  createTempShuffleBlock(): { blockId: BlockId; path: string } {
    return this.createTempBlock(() => BlockId.tempShuffle(randomUUID()));
  }

  /** A fresh path for a temporary file (a temp_local block's). */
  newTempPath(): string {
    return this.createTempLocalBlock().path;
  }

  private createTempBlock(draw: () => BlockId): { blockId: BlockId; path: string } {
    for (;;) {
      const blockId = draw();
      const path = this.getFile(blockId);
      if (!existsSync(path)) return { blockId, path };
    }
  }

  /** Removes a file; a missing file is not an error. */
  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  private createRoots(): void {
    for (const dir of this.localDirs) {
      const root = join(dir, `blockmgr-${randomUUID()}`);
      try {
        mkdirSync(root, { recursive: true });
      } catch (error) {
        throw new IoError(
          `cannot create a folder for temporary files in ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ` +
            'point the local directories at a writable folder',
          { cause: error },
        );
      }
      this.roots.push(root);
    }
    open.add(this);
    installExitHook();
  }

  /** The folders created so far (for tests and reports). */
  get rootFolders(): readonly string[] {
    return this.roots;
  }

  /** Removes every folder and file; idempotent. */
  closeSync(): void {
    this.closed = true;
    open.delete(this);
    for (const root of this.roots) rmSync(root, { recursive: true, force: true });
    this.roots.length = 0;
  }
}

/** Java's String.hashCode made non-negative, as Spark's Utils.nonNegativeHash (0 for Int.MinValue). */
export function nonNegativeHash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(31, h) + text.charCodeAt(i)) | 0;
  return h === -2147483648 ? 0 : Math.abs(h);
}
