import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';

/**
 * The process out of file descriptors (EMFILE), for real: this process's soft limit lowered with
 * prlimit a little above what it holds, and the descriptors left taken by opening /dev/null until
 * open() refuses. What runs meanwhile meets the limit as a server at `ulimit -n` under many
 * connections does.
 */

/** Why descriptors cannot be exhausted here (no prlimit), or null. */
export const prlimitUnavailable: string | null = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'needs prlimit (util-linux) to lower the open-file limit';
  }
})();

/** This process's RLIMIT_NOFILE as prlimit writes it: `soft:hard`. */
function openFileLimit(): string {
  const limits = execFileSync('prlimit', [
    `--pid=${process.pid}`,
    '--nofile',
    '--output=SOFT,HARD',
    '--noheadings',
  ]);
  return limits.toString().trim().split(/\s+/u).join(':');
}

function setOpenFileLimit(limit: string): void {
  execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${limit}`]);
}

/** Opens /dev/null until open() says EMFILE; returns the descriptors held. */
function takeEveryDescriptor(): number[] {
  const held: number[] = [];
  for (;;) {
    try {
      held.push(openSync('/dev/null', 'r'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EMFILE') return held;
      for (const fd of held) closeSync(fd);
      throw error;
    }
  }
}

/** Runs `during` with no file descriptor left to this process; frees them and restores the limit after. */
export async function withoutFileDescriptors<T>(during: () => Promise<T>): Promise<T> {
  const limit = openFileLimit();
  // Room for prlimit's own pipes while lowering it; taken by takeEveryDescriptor() at once after.
  setOpenFileLimit(`${readdirSync('/proc/self/fd').length + 16}:${limit.split(':')[1]}`);
  let held: number[] = [];
  try {
    held = takeEveryDescriptor();
    return await during();
  } finally {
    for (const fd of held) closeSync(fd);
    setOpenFileLimit(limit);
  }
}
