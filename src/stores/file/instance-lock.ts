import { open, readFile, rm } from 'node:fs/promises';

/**
 * One restauth process per data file. The lock is a file holding the owner's
 * pid, created exclusively. A lock left by a process that no longer exists
 * (killed, crashed) is taken over at once: that is why this is not an
 * mtime-based lock such as proper-lockfile's, which would make a restart
 * after a crash wait for the lock to go stale.
 */
export class InstanceLock {
  private constructor(private readonly path: string) {}

  static async acquire(lockPath: string, guardedFile: string): Promise<InstanceLock> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(lockPath, 'wx', 0o600);
        await handle.writeFile(`${process.pid}\n`);
        await handle.sync();
        await handle.close();
        return new InstanceLock(lockPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        const error = new Error(
          `${guardedFile} is in use by another restauth (pid ${owner}); stop it first, or remove ${lockPath} if it is stale`,
        ) as NodeJS.ErrnoException;
        error.code = 'ELOCKED';
        throw error;
      }
      // The owner is gone (or the file is empty from a crash mid-write): take the lock over.
      await rm(lockPath, { force: true });
    }
    throw new Error(`could not lock ${guardedFile} (${lockPath} keeps reappearing)`);
  }

  async release(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
