import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmount } from './tmpfs.js';

/**
 * An ext4 file system on a loop device, for faults a tmpfs cannot give: the kernel's
 * EXT4_IOC_SHUTDOWN (xfstests' "godown") makes it answer EIO to every write and open from then on,
 * as a disk gone bad does, and without flushing its journal it loses what was not synced, as a
 * power cut does. A remount brings back what was durable.
 */

const EXT4_IOC_SHUTDOWN = 0x8004587d;
const SHUTDOWN_NOLOGFLUSH = 2;

/** Why an ext4 on a loop device cannot be mounted and shut down here, or null when it can. */
export function loopExt4Unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a loop device';
  for (const [command, args] of [
    ['mkfs.ext4', ['-V']],
    // -f finds a free device: where the machine (a container) gives none, the mount would fail.
    ['losetup', ['-f']],
    ['python3', ['--version']],
  ] as const) {
    try {
      execFileSync(command, args, { stdio: 'ignore' });
    } catch {
      return `needs ${command} (an ext4 on a loop device, shut down by an ioctl from python3)`;
    }
  }
  return null;
}

/** Makes a fresh 16 MiB ext4 in the file `image` and mounts it over `dir` (the loop device goes at its unmount). */
export function mountLoopExt4(image: string, dir: string): void {
  execFileSync('truncate', ['-s', '16M', image]);
  execFileSync('mkfs.ext4', ['-q', image]);
  remountLoopExt4(image, dir);
}

/** Mounts the ext4 in `image` over `dir` again (after an unmount). */
export function remountLoopExt4(image: string, dir: string): void {
  execFileSync('mount', ['-o', 'loop', image, dir]);
}

/** From now on the file system at `dir` answers EIO; what was not synced is lost at the next mount. */
export function shutDownExt4(dir: string): void {
  const script =
    'import fcntl, os, struct, sys\n' +
    'fd = os.open(sys.argv[1], os.O_RDONLY)\n' +
    `fcntl.ioctl(fd, ${EXT4_IOC_SHUTDOWN}, struct.pack('I', ${SHUTDOWN_NOLOGFLUSH}))\n`;
  execFileSync('python3', ['-c', script, dir]);
}

/** Data folders on fresh ext4 loop devices for one test file, each unmounted and removed by `cleanUp`. */
export class LoopExt4Folders {
  private readonly scratches: string[] = [];
  private readonly mounted: string[] = [];

  /** A new ext4 in `image`, mounted at `dir`. */
  async mount(): Promise<{ image: string; dir: string }> {
    const scratch = await mkdtemp(join(tmpdir(), 'restauth-ext4-'));
    this.scratches.push(scratch);
    const image = join(scratch, 'ext4.img');
    const dir = join(scratch, 'data');
    await mkdir(dir);
    mountLoopExt4(image, dir);
    this.mounted.push(dir);
    return { image, dir };
  }

  /** Run after the apps on them are closed (a file open keeps a folder mounted). */
  async cleanUp(): Promise<void> {
    for (const dir of this.mounted) {
      try {
        unmount(dir);
      } catch {
        // Unmounted by the test already.
      }
    }
    for (const scratch of this.scratches) await rm(scratch, { recursive: true, force: true });
  }
}

/** A power cut: the file system at `dir` shut down unflushed, `close` left to fail, then mounted again. */
export async function cutPower(image: string, dir: string, close: () => Promise<void>): Promise<void> {
  shutDownExt4(dir);
  await close().catch(() => {});
  execFileSync('umount', [dir]);
  remountLoopExt4(image, dir);
}
