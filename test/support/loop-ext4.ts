import { execFileSync } from 'node:child_process';

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
    ['losetup', ['--version']],
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
