import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cgroupCpuQuota, usableCores } from '../../src/lib/usable-cores.js';
import { testPasswordPolicy } from '../support/password-policy.js';

const run = promisify(execFile);

/**
 * A cgroup of this machine's cpu hierarchy (v1's cpu controller, or v2 with cpu enabled for its
 * children) that this test may make, or why not: making one needs root and a writable cgroup file system.
 */
function cpuCgroupParent(): { dir: string; v2: boolean } | string {
  if (process.platform !== 'linux') return 'cgroups are Linux';
  if (availableParallelism() < 2) return 'a quota of one CPU tells nothing on a machine of one core';
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  for (const line of mounts) {
    const [before = '', after = ''] = line.split(' - ');
    const [type, , options = ''] = after.split(' ');
    const mountPoint = before.split(' ')[4];
    if (mountPoint === undefined) continue;
    if (type === 'cgroup' && options.split(',').includes('cpu')) return { dir: mountPoint, v2: false };
    if (type === 'cgroup2') {
      const enabled = (() => {
        try {
          return readFileSync(join(mountPoint, 'cgroup.subtree_control'), 'utf8').split(/\s/).includes('cpu');
        } catch {
          return false;
        }
      })();
      if (enabled) return { dir: mountPoint, v2: true };
    }
  }
  return 'no cgroup hierarchy with the cpu controller is mounted';
}

/** Makes a cgroup allowing `cpus` CPUs, or says why it cannot. */
function quotaCgroup(cpus: number): { dir: string } | string {
  const parent = cpuCgroupParent();
  if (typeof parent === 'string') return parent;
  const dir = join(parent.dir, `restauth-test-${process.pid}`);
  try {
    mkdirSync(dir);
  } catch (error) {
    return `cannot make a cgroup here (${(error as Error).message})`;
  }
  const period = 100_000;
  if (parent.v2) writeFileSync(join(dir, 'cpu.max'), `${cpus * period} ${period}`);
  else {
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(cpus * period));
  }
  return { dir };
}

const cgroup = quotaCgroup(1);
after(() => {
  // Empty once its process has exited: removable.
  if (typeof cgroup !== 'string') rmdirSync(cgroup.dir);
});

describe('hashing threads in a container with a CPU quota', () => {
  it(
    'are as many as the CPUs the quota allows, not as the host has cores',
    { skip: typeof cgroup === 'string' && cgroup },
    async () => {
      const { dir } = cgroup as { dir: string };
      // In the cgroup from its start: the shell moves itself in, then becomes node.
      const script = `
        import { readdirSync, readFileSync } from 'node:fs';
        import { availableParallelism } from 'node:os';
        import { HASHING_NICE } from ${JSON.stringify(import.meta.resolve('../../src/core/hashing-pool.js'))};
        import { PasswordHasher } from ${JSON.stringify(import.meta.resolve('../../src/core/passwords.js'))};
        const hasher = new PasswordHasher(${JSON.stringify(testPasswordPolicy({ concurrency: 0 }))});
        const hash = await hasher.prepare();
        // Four at once: the pool starts a thread for each job it is given while it has fewer than its size.
        await Promise.all([1, 2, 3, 4].map(() => hasher.verify('wrong', hash)));
        const hashing = readdirSync('/proc/self/task').filter((tid) => {
          const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) === HASHING_NICE;
        });
        await hasher.close();
        console.log(JSON.stringify({ cores: availableParallelism(), hashingThreads: hashing.length }));`;
      const { stdout } = await run('sh', [
        '-c',
        `echo $$ > ${join(dir, 'cgroup.procs')} && exec "$0" "$@"`,
        process.execPath,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
      ]);
      const { cores, hashingThreads } = JSON.parse(stdout) as { cores: number; hashingThreads: number };
      // Node 20's availableParallelism still counts the host's cores there: what the pool was sized by.
      assert.ok(cores >= 2);
      assert.equal(hashingThreads, 1);
    },
  );
});

describe('usableCores and cgroupCpuQuota, read from a file system tree', () => {
  const roots: string[] = [];
  after(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

  /** A tree with /proc/self/{cgroup,mountinfo} and the given files. */
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'restauth-cgroup-'));
    roots.push(root);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  const v2Mount = '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';

  it('reads cgroup v2, the smallest quota of the cgroup and its ancestors', () => {
    const root = tree({
      'proc/self/cgroup': '0::/kubepods/pod1/app\n',
      'proc/self/mountinfo': v2Mount,
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/kubepods/pod1/cpu.max': '150000 100000\n',
      'sys/fs/cgroup/kubepods/pod1/app/cpu.max': 'max 100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 1.5);
    // Rounded down, so one hashing thread leaves the event loop its half CPU.
    assert.equal(usableCores(root), 1);
  });

  it('reads cgroup v1 where a container mounts its own cgroup as the root, cpu joined with cpuacct', () => {
    const root = tree({
      'proc/self/cgroup': '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n',
      'proc/self/mountinfo':
        '40 31 0:35 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '50000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 0.5);
    assert.equal(usableCores(root), 1);
  });

  it('says no quota for -1, `max`, a cgroup outside the mounted part, and no /proc', () => {
    const unlimitedV1 = tree({
      'proc/self/cgroup': '1:cpu:/\n',
      'proc/self/mountinfo': '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n',
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    const unlimitedV2 = tree({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': v2Mount,
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
    });
    const outside = tree({
      'proc/self/cgroup': '0::/elsewhere\n',
      'proc/self/mountinfo': '30 23 0:26 /mine /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      'sys/fs/cgroup/cpu.max': '100000 100000\n',
    });
    for (const root of [unlimitedV1, unlimitedV2, outside, tree({})]) {
      assert.equal(cgroupCpuQuota(root), null);
      assert.equal(usableCores(root), availableParallelism());
    }
  });

  it('never counts more cores than the process may run on, nor fewer than one', () => {
    const generous = tree({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': v2Mount,
      'sys/fs/cgroup/cpu.max': `${(availableParallelism() + 8) * 100000} 100000\n`,
    });
    assert.equal(usableCores(generous), availableParallelism());
  });

  it('reads a mount point written with octal escapes (a space in it)', () => {
    const root = tree({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': '30 23 0:26 / /cgroup\\040fs rw - cgroup2 cgroup2 rw\n',
      'cgroup fs/cpu.max': '200000 100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 2);
  });
});
