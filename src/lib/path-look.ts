import { statfsSync, statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

/**
 * File systems (statfs's f_type, Linux) on this machine's own disks or memory, whose stat of a file
 * looked at moments ago answers from the kernel's caches in microseconds: ext2/3/4, xfs, btrfs,
 * tmpfs, ramfs, overlayfs (a container's root), zfs, f2fs. Not NFS, SMB, 9p, FUSE or any other:
 * there a stat may wait on a server or a process for as long as it is gone, and on the event loop it
 * would stop every request with it.
 */
const LOCAL_FILE_SYSTEMS: ReadonlySet<number> = new Set([
  0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x858458f6, 0x794c7630, 0x2fc12fc1, 0xf2f52010,
]);

/** The Stats of a path, or null when it cannot be looked at (missing, not reachable: any error). */
export type PathLook = (path: string) => Promise<Stats | null>;

/** Through libuv's thread pool: a stat that hangs holds one pool thread, never the event loop. */
const lookInPool: PathLook = (path) => stat(path).catch(() => null);

/**
 * On the event loop, no thread pool: each pool request wakes a pool thread and then the event loop,
 * and during a login storm on a machine with no spare core each such wake takes a core from a hash
 * (issue 17). A file-store commit looks at its files three times.
 */
const lookAtOnce: PathLook = (path) => {
  try {
    return Promise.resolve(statSync(path, { throwIfNoEntry: false }) ?? null);
  } catch {
    return Promise.resolve(null);
  }
};

/**
 * How paths in `folder` are looked at: at once on a local file system (LOCAL_FILE_SYSTEMS), else
 * through the thread pool, as when the file system cannot be told (not Linux, the folder missing).
 */
export function pathLookIn(
  folder: string,
  fileSystemType: (folder: string) => number = (path) => statfsSync(path).type,
): PathLook {
  // f_type's numbers are Linux's: another system's may mean another file system.
  if (process.platform !== 'linux') return lookInPool;
  try {
    return LOCAL_FILE_SYSTEMS.has(fileSystemType(folder)) ? lookAtOnce : lookInPool;
  } catch {
    return lookInPool;
  }
}
