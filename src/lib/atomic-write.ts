import { constants } from 'node:fs';
import { open, rename } from 'node:fs/promises';
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
