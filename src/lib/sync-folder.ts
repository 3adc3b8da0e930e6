import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * fsync of a folder: a file created, renamed or removed in it stays so after
 * a power loss (fsync of the file itself makes only its content durable).
 */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
