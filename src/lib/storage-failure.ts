/**
 * The errors of a write the storage refuses (full, over quota, read-only, not permitted, its file
 * replaced, a directory where a file of restauth's belongs or a file where its folder does, a file
 * mounted on its own, a device failing), not of the code.
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
  // The device fails (a disk gone bad, a network volume lost, a file system shut down after an error).
  'EIO',
]);

/**
 * The errors of a process or system out of file descriptors: a moment's exhaustion (many connections
 * at once, `ulimit -n` set low) that ends as files and sockets close, not a fault of the storage.
 */
const DESCRIPTOR_ERROR_CODES = new Set(['EMFILE', 'ENFILE']);

/** What a client is told to wait when no file can be opened: descriptors free as requests end. */
export const DESCRIPTORS_RETRY_AFTER_S = 5;

/** What a client is told to wait: freeing space or remounting is a person's job, not a second's. */
export const STORAGE_RETRY_AFTER_S = 60;

/** Whether `error` is a system call's refusal by the storage (see STORAGE_ERROR_CODES). */
export function isStorageFailure(error: unknown): boolean {
  return systemCallFailed(error, STORAGE_ERROR_CODES);
}

/** Whether `error` is a system call's refusal for want of a file descriptor (see DESCRIPTOR_ERROR_CODES). */
export function isDescriptorExhaustion(error: unknown): boolean {
  return systemCallFailed(error, DESCRIPTOR_ERROR_CODES);
}

/** /ready's word for an open refused for want of a descriptor (`error` is one: isDescriptorExhaustion). */
export function noDescriptorLeft(error: unknown): string {
  return `none left (${(error as NodeJS.ErrnoException).code}): raise the limit (ulimit -n)`;
}

function systemCallFailed(error: unknown, codes: ReadonlySet<string>): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, syscall } = error as Partial<NodeJS.ErrnoException>;
  return typeof syscall === 'string' && typeof code === 'string' && codes.has(code);
}
