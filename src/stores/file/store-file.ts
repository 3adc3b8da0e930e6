import { open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ifMissing } from '../../lib/if-missing.js';
import { syncFolder } from '../../lib/sync-folder.js';

/**
 * A file of the store (db.json, credentials.json, a journal) as bytes, or null when there is none.
 * Anything at its name that is neither a regular file nor a folder (a FIFO, a device, a socket, or a
 * link to one, put there by hand) is refused with an error naming it and what it is: reading a FIFO
 * waits for a writer that never comes and /dev/zero never ends, so the start hung on it, with no
 * word of why. A folder is read as before (EISDIR, which names it).
 */
export async function readStoreFile(path: string): Promise<Buffer | null> {
  const stats = await stat(path).catch(ifMissing(null));
  if (stats === null) return null;
  if (!stats.isFile() && !stats.isDirectory()) {
    throw Object.assign(
      new Error(
        `${path} is ${kindOf(stats)}, not a file; restauth does not start on it: ` +
          'move it away and put the file back (or let restauth create it)',
      ),
      { code: 'ENOTFILE' },
    );
  }
  return readFile(path).catch(ifMissing(null));
}

function kindOf(stats: {
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'no regular file';
}

/**
 * Makes a file of the store that restauth did not write itself (saved by hand or by another tool
 * before the start, or an edit applied under --watch) durable, its name in its folder too, before
 * writes are acknowledged on top of it: they go to the journal, synced, as changes of that file. A
 * file saved without fsync is only in the page cache, and a power cut left an empty db.json, so the
 * restart refused it (damaged) and the acknowledged writes went with it.
 */
export async function syncStoreFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await syncFolder(dirname(path));
}
