import { constants } from 'node:fs';
import { access, open, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ifMissing } from '../../lib/if-missing.js';
import { insufficientStorage } from '../../core/errors.js';
import { isStorageFailure, STORAGE_RETRY_AFTER_S } from '../../lib/storage-failure.js';

/**
 * Whether the file store's folders can take a write now, asked before an answer that claims work
 * done after it (Store.assertWritable): a recovery mail, a magic link. Such a write happens after
 * the answer so the answer does not tell whether the address has an account; on a full disk it then
 * fails unseen while every address was told "sent". Asked first, for every address alike, the
 * answer is 507 for all of them instead, and the work goes on once space is back.
 *
 * - A folder whose volume has no free block or inode left, or that cannot be written (read-only,
 *   immutable), refuses: a few system calls, no write. So does a process with no file descriptor
 *   left (EMFILE), with 503 rather than 507: it ends as requests end.
 * - After a write of the store failed with a storage error (a quota, a volume that went bad), each
 *   question writes, fdatasyncs and removes a small file in each folder until one succeeds, or a
 *   write of the store does: writes are known to fail until then, and nothing else would notice
 *   the end of it when only such routes are asked for.
 */
export class StorageHealth {
  private failure: unknown = null;
  private readonly folders: readonly string[];

  constructor(folders: readonly string[]) {
    this.folders = [...new Set(folders)];
  }

  /** A write of the store failed: with a storage error, writes are known to fail from now on. */
  writeFailed(error: unknown): void {
    if (isStorageFailure(error)) this.failure = error;
  }

  /** A write of the store reached the disk: whatever failed before works again. */
  wrote(): void {
    this.failure = null;
  }

  /**
   * Whether the device fails writes (EIO) now, for /ready: after a write failed so, asked again with
   * a small write in each folder, so /ready turns ready once it answers even while no write is asked
   * for. A full or read-only volume is left to the other checks (the journals may still take appends).
   */
  async deviceFailing(): Promise<boolean> {
    if ((this.failure as Partial<NodeJS.ErrnoException> | null)?.code !== 'EIO') return false;
    try {
      for (const folder of this.folders) await probe(folder);
    } catch (error) {
      return isStorageFailure(error);
    }
    this.failure = null;
    return false;
  }

  /** Resolves when a write is expected to succeed now; else rejects with the 507 every write would get. */
  async assertWritable(): Promise<void> {
    try {
      for (const folder of this.folders) await assertRoomIn(folder);
      if (this.failure !== null) {
        for (const folder of this.folders) await probe(folder);
        this.failure = null;
      }
    } catch (error) {
      if (!isStorageFailure(error)) throw error;
      throw insufficientStorage(error, STORAGE_RETRY_AFTER_S);
    }
  }
}

/**
 * Throws a storage error when the folder's volume is full (blocks or inodes) or the folder cannot
 * be written. A folder not made yet (the mail queue's, until its first mail) is asked of the folder
 * it will be made in.
 */
async function assertRoomIn(folder: string): Promise<void> {
  const existing = await nearestExisting(folder);
  // EROFS for a read-only volume, EPERM for an immutable folder, even to root.
  await access(existing, constants.W_OK);
  // No descriptor left (EMFILE, many connections at once): the write after the answer could open no
  // file either. Rethrown as such, it answers 503 with a short Retry-After (http/errors.ts).
  await (await open(existing, 'r')).close();
  const volume = await statfs(existing);
  // Root may use the blocks a file system reserves (ext4's 5 %); anyone else only the available ones.
  const freeBlocks = process.getuid?.() === 0 ? volume.bfree : volume.bavail;
  if (freeBlocks === 0 || volume.ffree === 0) {
    throw Object.assign(new Error(`no space left on the volume of ${folder}`), {
      code: 'ENOSPC',
      syscall: 'statfs',
    });
  }
}

/** `folder`, or its nearest ancestor that exists. */
async function nearestExisting(folder: string): Promise<string> {
  for (let current = folder; ; current = dirname(current)) {
    const found = await stat(current).then(() => true, ifMissing(false));
    if (found || dirname(current) === current) return current;
  }
}

/** Writes, fdatasyncs and removes a small file in `folder`: throws what the storage answers. */
async function probe(folder: string): Promise<void> {
  const path = join(await nearestExisting(folder), `.restauth-write-probe.${process.pid}`);
  try {
    const handle = await open(path, 'w', 0o600);
    try {
      await handle.writeFile('restauth write probe\n');
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } finally {
    await rm(path, { force: true }).catch(() => {});
  }
}
