import { constants } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * All or nothing, and durable: a temp file in the same folder, fdatasync,
 * rename over the target, fsync of the folder (so the rename itself survives
 * a power loss). Readers see the old content or the new, never a mix.
 */
export async function writeFileAtomically(path: string, text: string, mode = 0o644): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(text);
    // fdatasync: the content and its length reach the disk; timestamps may wait.
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncFolderOf(path);
}

/** fsync of the folder holding `path`: a file created, renamed or removed there stays so after a power loss. */
export async function syncFolderOf(path: string): Promise<void> {
  const folder = await open(dirname(path), constants.O_RDONLY);
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/**
 * Removes the temp files that writeFileAtomically left beside `path` when a
 * crash came between writing and renaming them: `.NAME.<pid>.tmp`, of any pid,
 * and nothing else. Call it only where this process is the file's one writer
 * (under the lock that says so), before it writes: no other writer's temp file
 * can then be in flight.
 */
export async function removeLeftoverTempFiles(path: string): Promise<string[]> {
  const folder = dirname(path);
  const prefix = `.${basename(path)}.`;
  const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^\d+\.tmp$/.test(name.slice(prefix.length))) continue;
    await rm(join(folder, name), { force: true });
    removed.push(name);
  }
  return removed;
}
