import { stat } from 'node:fs/promises';
import { ifMissing } from './if-missing.js';

/**
 * ENOENT from a write in a folder that no longer exists: it was removed under the running process (an
 * operator's clean-up naming the wrong folder, a volume unmounted). That is the storage refusing the
 * write, as ESTALE is for a journal whose file was removed (lib/storage-failure.ts: 507 with
 * Retry-After), not a bug answered 500. Any other error is returned as it is.
 */
export async function asFolderGone(folder: string, error: unknown): Promise<unknown> {
  const { code, syscall } = (error ?? {}) as Partial<NodeJS.ErrnoException>;
  if (code !== 'ENOENT' || (await stat(folder).then(() => true, ifMissing(false)))) return error;
  return Object.assign(
    new Error(`ESTALE: the folder ${folder} was removed while restauth wrote in it; the write was refused`, {
      cause: error,
    }),
    { code: 'ESTALE', syscall: syscall ?? 'open' },
  );
}
