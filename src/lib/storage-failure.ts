/**
 * The errors of a write the storage refuses (full, over quota, read-only, not permitted, its file
 * replaced, a directory where a file of restauth's belongs or a file where its folder does, a file
 * mounted on its own), not of the code.
 */
const STORAGE_ERROR_CODES = new Set([
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'EFBIG',
  'ESTALE',
  'EISDIR',
  'ENOTDIR',
  // A rename onto a mount point: the file mounted on its own (Docker's `-v ./db.json:/data/db.json`).
  'EBUSY',
]);

/** What a client is told to wait: freeing space or remounting is a person's job, not a second's. */
export const STORAGE_RETRY_AFTER_S = 60;

/** Whether `error` is a system call's refusal by the storage (see STORAGE_ERROR_CODES). */
export function isStorageFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, syscall } = error as Partial<NodeJS.ErrnoException>;
  return typeof syscall === 'string' && typeof code === 'string' && STORAGE_ERROR_CODES.has(code);
}
