import { execFileSync } from 'node:child_process';
import { appendFile, stat, truncate } from 'node:fs/promises';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Small file systems for full-disk and read-only faults: a tmpfs of a given
 * size fills for real (ENOSPC) and, remounted read-only, refuses even root
 * (EROFS), which chmod does not.
 */

/** Why a tmpfs cannot be mounted here, or null when it can (probed once per process). */
export function tmpfsUnavailable(): string | null {
  probed ??= probe();
  return probed;
}

let probed: string | null | undefined;

function probe(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (chmod does not stop root)';
  const dir = mkdtempSync(join(tmpdir(), 'restauth-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return null;
  } catch {
    return 'cannot mount a tmpfs here (no CAP_SYS_ADMIN in this container)';
  } finally {
    rmdirSync(dir);
  }
}

/** Mounts a tmpfs of `size` (mount's syntax: 512k, 2m) over `dir`, and at most `inodes` files and folders if given. */
export function mountTmpfs(dir: string, size: string, inodes?: number): void {
  const options = inodes === undefined ? `size=${size}` : `size=${size},nr_inodes=${inodes}`;
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
}

/** Unmounts what is mounted over `dir`; nothing may be open on it. */
export function unmount(dir: string): void {
  execFileSync('umount', [dir]);
}

/**
 * Appends zeros to `file` until the file system says ENOSPC, to its last block, then frees `room`
 * bytes of it: a full disk, or one with room for that much and no more.
 */
export async function fillUp(file: string, room = 0): Promise<void> {
  for (const size of [64 * 1024, 512]) {
    for (;;) {
      try {
        await appendFile(file, Buffer.alloc(size));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
  }
  if (room > 0) await truncate(file, Math.max(0, (await stat(file)).size - room));
}
