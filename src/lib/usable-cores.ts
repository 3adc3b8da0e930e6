import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { unescapeMountField } from './mountinfo.js';
import { readSystemFile as readOrNull } from './read-system-file.js';

/**
 * How many cores this process can keep busy: the cores it may run on, or fewer when its cgroup's CPU
 * quota allows less (a container's `--cpus`, a Kubernetes CPU limit), rounded down, at least 1.
 *
 * Node 20's os.availableParallelism() (libuv 1.46) counts the cores of the host and ignores the
 * quota: in a container limited to 2 CPUs on a 64-core host it says 64. Sized by it, the hashing
 * threads would be 64, each holding argon2id's 19 MiB during a login storm (1.2 GiB where the
 * container may have 512 MiB), their hashes sharing the 2 CPUs so every login waits for all of
 * them, and the CPU they use beyond the quota throttling the whole process, event loop included,
 * for the rest of each quota period. Rounded down: with 1.5 CPUs, one hashing thread leaves the
 * event loop its half.
 */
export function usableCores(root = '/'): number {
  const cores = availableParallelism();
  const quota = cgroupCpuQuota(root);
  return quota === null ? cores : Math.max(1, Math.min(cores, Math.floor(quota)));
}

/**
 * The CPUs this process's cgroup and its ancestors allow it (the smallest quota ÷ period on the way
 * up, cgroup v2's cpu.max or v1's cpu.cfs_quota_us), or null with no quota or no cgroup to read
 * (not Linux). `root` is where the file system is read from (`/`; a test gives a tree of its own).
 */
export function cgroupCpuQuota(root = '/'): number | null {
  const membership = readOrNull(join(root, 'proc/self/cgroup'));
  const mounts = readOrNull(join(root, 'proc/self/mountinfo'));
  if (membership === null || mounts === null) return null;
  let smallest: number | null = null;
  for (const hierarchy of cpuHierarchies(membership, mounts)) {
    // From the process's own cgroup up to the hierarchy's root: a parent's quota binds its children too.
    const top = join(root, hierarchy.mountPoint);
    for (let dir = join(root, hierarchy.dir); ; dir = dirname(dir)) {
      const quota = hierarchy.v2 ? quotaV2(dir) : quotaV1(dir);
      if (quota !== null && (smallest === null || quota < smallest)) smallest = quota;
      if (dir === top || dirname(dir) === dir) break;
    }
  }
  return smallest;
}

interface CpuHierarchy {
  /** cgroup v2 (the unified hierarchy) rather than v1's cpu controller. */
  v2: boolean;
  mountPoint: string;
  /** The process's cgroup's directory, under mountPoint. */
  dir: string;
}

/**
 * The mounted hierarchies that can hold the process's CPU quota: v1's with the cpu controller, and
 * v2's. A cgroup's path is relative to its hierarchy's root, and a mount may show a part of the
 * hierarchy only (its root field, as in a container): a cgroup outside the mounted part is unreadable.
 */
function cpuHierarchies(membership: string, mounts: string): CpuHierarchy[] {
  const found: CpuHierarchy[] = [];
  for (const line of mounts.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const [, , , mountRoot, mountPoint] = before.split(' ');
    const [type, , options = ''] = after.split(' ');
    if (mountRoot === undefined || mountPoint === undefined) continue;
    const v2 = type === 'cgroup2';
    if (!v2 && !(type === 'cgroup' && options.split(',').includes('cpu'))) continue;
    const path = cgroupPath(membership, v2);
    if (path === null) continue;
    const inside = relative(unescapeMountField(mountRoot), path);
    if (inside === '..' || inside.startsWith('../')) continue;
    const point = unescapeMountField(mountPoint);
    found.push({ v2, mountPoint: point, dir: join(point, inside) });
  }
  return found;
}

/** The process's cgroup in v2's hierarchy (`0::/path`) or in v1's with the cpu controller (`4:cpu,cpuacct:/path`). */
function cgroupPath(membership: string, v2: boolean): string | null {
  for (const line of membership.split('\n')) {
    const [id, controllers, ...path] = line.split(':');
    if (id === undefined || controllers === undefined || path.length === 0) continue;
    const matches = v2 ? id === '0' && controllers === '' : controllers.split(',').includes('cpu');
    if (matches) return path.join(':');
  }
  return null;
}

/** cgroup v2's cpu.max: `max 100000` (none) or `<quota> <period>`. */
function quotaV2(dir: string): number | null {
  const [quota, period] = (readOrNull(join(dir, 'cpu.max')) ?? '').trim().split(' ');
  return cpus(Number(quota), Number(period));
}

/** cgroup v1's cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. */
function quotaV1(dir: string): number | null {
  const quota = Number(readOrNull(join(dir, 'cpu.cfs_quota_us')));
  const period = Number(readOrNull(join(dir, 'cpu.cfs_period_us')));
  return cpus(quota, period);
}

/** CPUs from a quota and a period in µs; null when either is missing or the quota is none (`max`, -1). */
function cpus(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return quota / period;
}
