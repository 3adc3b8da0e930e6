import { link, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asFolderGone } from './folder-gone.js';
import { syncFolder } from './sync-folder.js';
import { ifMissing } from './if-missing.js';
import { processIsRunning } from './process-running.js';

/** The target changed since the caller last saw it: the rename was not done (see unchangedSince). */
export class FileChangedError extends Error {
  override readonly name = 'FileChangedError';
  constructor(readonly path: string) {
    super(`${path} was changed by someone else`);
  }
}

/** Which file the caller last saw at a path: its inode (0: no file), and if given its mtime and size. */
export interface FileIdentity {
  ino: number;
  mtimeMs?: number;
  size?: number;
}

/**
 * All or nothing, and durable (`text` whole, or in pieces as they come): a temp file in the same folder, fdatasync,
 * rename over the target, fsync of the folder (so the rename itself survives
 * a power loss). Readers see the old content or the new, never a mix. A
 * failed write (full disk, read-only folder) leaves the target as it was and
 * removes its temp file.
 *
 * With `unchangedSince`, the target is first checked to be that file still;
 * if not, nothing is replaced and FileChangedError is thrown. Then the file
 * being replaced is pinned by a second name (a hard link) across the rename
 * and checked again after it: a process that wrote into it in the meantime
 * (an editor saving in place) changed the pinned file, which is then left
 * for the caller as `displaced` instead of being deleted. What the check
 * cannot see is another file renamed over the target in the microseconds
 * between the check and the rename (Node has no compare-and-rename).
 *
 * Returns the identity of the file written (taken from the temp file before
 * the rename, which keeps inode, size and mtime, so a change made right
 * after the rename is not mistaken for the writer's).
 */
export async function writeFileAtomically(
  path: string,
  text: string | Uint8Array | AsyncIterable<string | Uint8Array>,
  mode = 0o644,
  options: {
    unchangedSince?: FileIdentity | undefined;
    /** The owner the new file gets (the one being replaced had); only root can give it, others skip it. */
    owner?: { uid: number; gid: number } | undefined;
  } = {},
): Promise<{ written: Required<FileIdentity>; displaced: string | null }> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const pinned = join(dirname(path), `.${basename(path)}.${process.pid}.replaced`);
  let written: Required<FileIdentity>;
  let displaced: string | null = null;
  try {
    const handle = await open(temp, 'w', mode);
    try {
      const { owner } = options;
      if (owner && process.getuid?.() === 0) await handle.chown(owner.uid, owner.gid);
      if (typeof text === 'string' || text instanceof Uint8Array) await handle.writeFile(text);
      // In pieces: each written (at the file's position) before the next is made, so the maker of a
      // large text holds the event loop for one piece at a time.
      else for await (const piece of text) await handle.writeFile(piece);
      // fdatasync: the content and its length reach the disk; timestamps may wait.
      await handle.datasync();
      const { ino, mtimeMs, size } = await handle.stat();
      written = { ino, mtimeMs, size };
    } finally {
      await handle.close();
    }
    const seen = options.unchangedSince;
    if (seen && !(await isStill(path, seen))) throw new FileChangedError(path);
    const pinnedOld = seen !== undefined && seen.ino !== 0 && (await pin(path, pinned));
    await rename(temp, path);
    if (pinnedOld) {
      if (await isStill(pinned, seen)) await rm(pinned, { force: true });
      else displaced = pinned;
    }
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw await asFolderGone(dirname(path), error);
  }
  await syncFolder(dirname(path)).catch(async (error: unknown) => {
    throw await asFolderGone(dirname(path), error);
  });
  return { written, displaced };
}

/**
 * Why a file cannot be pinned, pinning then skipped: a file system without hard links (EPERM, ENOTSUP,
 * EOPNOTSUPP), a file gone (ENOENT), a file mounted on its own (EXDEV: the rename over it then fails,
 * EBUSY, as storage).
 */
const NO_PIN = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOENT', 'EXDEV']);

/** A second name for the file at `path`; false where it cannot have one (NO_PIN). */
async function pin(path: string, pinned: string): Promise<boolean> {
  await rm(pinned, { force: true });
  try {
    await link(path, pinned);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && NO_PIN.has(code)) return false;
    throw error;
  }
}

async function isStill(path: string, seen: FileIdentity): Promise<boolean> {
  const current = await stat(path).catch(ifMissing(null));
  if (current === null) return seen.ino === 0;
  return (
    current.ino === seen.ino &&
    (seen.mtimeMs === undefined || current.mtimeMs === seen.mtimeMs) &&
    (seen.size === undefined || current.size === seen.size)
  );
}

/**
 * Removes the temp files that writeFileAtomically left beside `path` when a
 * crash came between writing and renaming them: `.NAME.<pid>.tmp` (and
 * `.NAME.<pid>.replaced`, the pin of the file a rename was replacing), and
 * nothing else. By default of any pid: call it so only where this process is
 * the file's one writer (under the lock that says so), before it writes: no
 * other writer's temp file can then be in flight. Without such a lock, pass
 * `deadWritersOnly`: the files of a pid still running are left to it.
 */
export async function removeLeftoverTempFiles(
  path: string,
  { deadWritersOnly = false }: { deadWritersOnly?: boolean } = {},
): Promise<string[]> {
  const folder = dirname(path);
  const prefix = `.${basename(path)}.`;
  const names = await readdir(folder).catch(ifMissing([]));
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const writer = /^(\d+)\.(tmp|replaced)$/.exec(name.slice(prefix.length))?.[1];
    if (writer === undefined || (deadWritersOnly && processIsRunning(Number(writer)))) continue;
    await rm(join(folder, name), { force: true });
    removed.push(name);
  }
  return removed;
}
