/**
 * Where the engine writes temporary files: one `blockmgr-<uuid>` folder in each configured
 * local directory (Spark's spark.local.dir), created on first use, with files spread over 64
 * sub-folders as Spark's DiskBlockManager does, and new names handed out round-robin across
 * the directories. Everything is removed by close(), and at process exit for folders a crash
 * of the caller left open.
 *
 * Spill files are named temp_local_<uuid>, Spark's TempLocalBlockId.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoError } from '../errors.js';

const SUB_DIRECTORIES = 64;
const open = new Set<LocalDirs>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const dirs of open) dirs.closeSync();
  });
}

export class LocalDirs {
  private readonly roots: string[] = [];
  private readonly created = new Set<string>();
  private next = 0;
  private closed = false;

  constructor(readonly localDirs: readonly string[] = [tmpdir()]) {
    if (localDirs.length === 0) throw new IoError('at least one local directory is needed');
  }

  /** A fresh path for a temporary file; the folders are created here if need be. */
  newTempPath(): string {
    if (this.closed) throw new IoError('the local directories were closed');
    if (this.roots.length === 0) this.createRoots();
    const name = `temp_local_${randomUUID()}`;
    const root = this.roots[this.next++ % this.roots.length]!;
    const sub = join(root, (hash(name) % SUB_DIRECTORIES).toString(16).padStart(2, '0'));
    if (!this.created.has(sub)) {
      try {
        mkdirSync(sub, { recursive: true });
      } catch (error) {
        throw new IoError(`cannot create ${sub}: ${(error as Error).message}`, { cause: error });
      }
      this.created.add(sub);
    }
    return join(sub, name);
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

/** Java's String.hashCode, non-negative, as Spark's Utils.nonNegativeHash. */
function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(31, h) + text.charCodeAt(i)) | 0;
  return h === -2147483648 ? 0 : Math.abs(h);
}
