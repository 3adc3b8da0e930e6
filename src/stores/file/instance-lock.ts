import { open, type FileHandle } from 'node:fs/promises';
import { tryLock } from 'fs-native-extensions';

/**
 * One restauth process per data file: an exclusive lock on a lock file that
 * the kernel holds for this process's open file (an open file description
 * lock, fcntl F_OFD_SETLK, through fs-native-extensions).
 *
 * Unlike a file holding a pid checked with kill(pid, 0), this works between
 * PID namespaces (two containers on one volume see different pids, and a pid
 * may be reused), and it needs no stale-lock rule: the kernel drops the lock
 * the moment the process dies, however it dies, so a restart after a crash
 * takes it at once. The file itself stays (removing it would let two
 * processes lock two different files under one name); the pid in it is only
 * for the message. Advisory, and only as trustworthy as the file system's
 * locking: see docs/operations.md (network file systems).
 */
export class InstanceLock {
  private constructor(private readonly handle: FileHandle) {}

  static async acquire(lockPath: string, guardedFile: string): Promise<InstanceLock> {
    // 'a+': created if missing, never truncated before the lock is ours (the owner's pid stays readable).
    const handle = await open(lockPath, 'a+', 0o600);
    try {
      if (!tryLock(handle.fd)) {
        const owner = (await handle.readFile('utf8')).trim();
        throw new InstanceLockedError(guardedFile, lockPath, owner === '' ? null : owner);
      }
      await handle.truncate(0);
      await handle.write(`${process.pid}\n`, 0);
      return new InstanceLock(handle);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Closing the file releases the lock (the file stays: see above). */
  async release(): Promise<void> {
    await this.handle.close();
  }
}

/** The lock is held: another process (a running restauth) has these files. */
export class InstanceLockedError extends Error {
  readonly code = 'ELOCKED';

  constructor(
    readonly guardedFile: string,
    readonly lockPath: string,
    /** The pid the holder wrote, as its own PID namespace numbers it (null if it wrote none yet). */
    readonly owner: string | null,
  ) {
    super(
      `${guardedFile} is in use by another restauth${owner === null ? '' : ` (pid ${owner}, as its own PID namespace numbers it)`}; ` +
        `stop it first (the lock on ${lockPath} is held by a running process)`,
    );
  }
}
