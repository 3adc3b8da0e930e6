import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { onFreePort } from './free-port.js';
import { dataFromTemplate } from './postgres-template.js';

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL cluster from the machine's server binaries, removed
 * at exit: the one test/support/postgres.ts shares among a process's tests,
 * or one test's own, which it may stop and start (the shared server must
 * stay up for every other test, and DATABASE_URL's or PGlite cannot be
 * restarted from here).
 */
export interface OwnCluster {
  /** URL of its `postgres` database (superuser, trust authentication). */
  url: string;
  port: number;
  /** `pg_ctl stop`: fast (sessions terminated, 57P01) or immediate (no clean shutdown, crash recovery next). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /**
   * SIGSTOPs the postmaster and every process it started: the server hangs
   * instead of refusing, as behind a network partition. The kernel still
   * accepts TCP connections to it; nothing answers on them.
   */
  pause(): Promise<void>;
  /** SIGCONTs what pause stopped. */
  resume(): Promise<void>;
  /** Stops it if running and removes its files. */
  destroy(): Promise<void>;
  /** What the server has written to its log file so far (statements too, when `settings` log them). */
  log(): Promise<string>;
  /** The postmaster's pid and its children's (the benches read their CPU time). */
  processes(): Promise<number[]>;
}

/** The bin folder of the newest PostgreSQL server installed (Debian's layout), or null. */
export function findBinaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'initdb'))) return bin;
  }
  return null;
}

/** Why a test needing its own cluster cannot run here, or null. */
export function ownClusterUnavailable(): string | null {
  return findBinaries()
    ? null
    : 'needs PostgreSQL server binaries (initdb, pg_ctl) to stop and restart a cluster of its own; PGlite runs in-process and cannot be restarted under its clients';
}

export interface ClusterOptions {
  /** Default: a free one. */
  port?: number;
  /** Default 100. */
  maxConnections?: number;
  /**
   * Default true. False (synchronous_commit=off) acknowledges a commit before
   * its WAL is written: faster, but an immediate stop loses acknowledged
   * commits, so only a server nobody stops may run so.
   */
  synchronousCommit?: boolean;
  /**
   * More server settings, as `-c name=value` (e.g. log_statement: 'all'). Values are passed through
   * pg_ctl's shell: keep them to words, numbers and signs.
   */
  settings?: Record<string, string>;
  /**
   * The WAL in this folder (initdb -X), in segments of this many MiB (initdb --wal-segsize): for a
   * WAL on a file system of its own, such as a small loop device that fills.
   */
  wal?: { dir: string; segmentMiB: number };
}

export async function startOwnCluster(options: ClusterOptions = {}): Promise<OwnCluster> {
  const bin = findBinaries();
  if (!bin) throw new Error(ownClusterUnavailable()!);
  const dir = await mkdtemp(join(tmpdir(), 'restauth-own-pg-'));
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot
    ? {
        uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
        gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
      }
    : null;
  const prepare = async (folder: string) => {
    if (owner) await chown(folder, owner.uid, owner.gid);
    await chmod(folder, 0o700);
  };
  await prepare(dir);
  const as = (command: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args])
      : run(join(bin, command), args);
  const initdb = (data: string, wal: string[] = []) =>
    as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', ...wal]);
  // A WAL folder of its own is given to initdb; every other cluster starts as a copy of one initdb's.
  if (options.wal) await initdb(data, ['-X', options.wal.dir, `--wal-segsize=${options.wal.segmentMiB}`]);
  else await dataFromTemplate(bin, data, initdb, prepare);
  const settingsOn = (port: number) => [
    '-c fsync=off',
    ...(options.synchronousCommit === false ? ['-c synchronous_commit=off'] : []),
    '-c full_page_writes=off',
    '-c listen_addresses=127.0.0.1',
    `-p ${port}`,
    `-k ${dir}`,
    `-c max_connections=${options.maxConnections ?? 100}`,
    ...Object.entries(options.settings ?? {}).map(([name, value]) => {
      if (!/^[a-z_.]+$/.test(name) || !/^[A-Za-z0-9_.-]+$/.test(value))
        throw new Error(`not a plain server setting: ${name}=${value}`);
      return `-c ${name}=${value}`;
    }),
  ];
  let running = false;
  let settings: string[] = [];
  // pg_ctl -w gives up after 60 s by default, a bound a start with crash recovery or a stop on a loaded
  // machine may pass: -t 600 leaves only a guard against a hang, far above a slow run.
  const waitLimit = ['-w', '-t', '600'];
  const start = async () => {
    await as('pg_ctl', ['-D', data, '-l', join(dir, 'log'), ...waitLimit, '-o', settings.join(' '), 'start']);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate') => {
    await as('pg_ctl', ['-D', data, '-m', mode, ...waitLimit, 'stop']);
    running = false;
  };
  const startOn = async (port: number) => {
    settings = settingsOn(port);
    const logged = (await readFile(join(dir, 'log'), 'utf8').catch(() => '')).length;
    try {
      await start();
    } catch (error) {
      // The free port was taken by another process before the server bound it: onFreePort picks another.
      const log = (await readFile(join(dir, 'log'), 'utf8').catch(() => '')).slice(logged);
      if (/Address already in use/u.test(log)) throw Object.assign(new Error(log), { code: 'EADDRINUSE' });
      throw error;
    }
    return port;
  };
  let port: number;
  try {
    port = options.port === undefined ? await onFreePort(startOn) : await startOn(options.port);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  // A test that fails or is cancelled still leaves no server behind. Synchronous: this runs at exit.
  const stopAtExit = () => {
    try {
      const args = ['-D', data, '-m', 'immediate', 'stop'];
      if (asRoot)
        execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args], { stdio: 'ignore' });
      else execFileSync(join(bin, 'pg_ctl'), args, { stdio: 'ignore' });
      execFileSync('rm', ['-rf', dir]);
    } catch {
      // best effort: it may be stopped already
    }
  };
  process.once('exit', stopAtExit);
  // The postmaster first, so it forks nothing new while its children are stopped; resumed in reverse.
  const serverProcesses = async () => {
    const postmaster = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return [postmaster, ...(await childrenOf(postmaster))];
  };
  let paused: number[] = [];
  const resume = async () => {
    for (const pid of [...paused].reverse()) process.kill(pid, 'SIGCONT');
    paused = [];
  };
  // A test that fails while the server is stopped must not leave it stopped for pg_ctl at exit.
  process.prependOnceListener('exit', () => paused.forEach((pid) => process.kill(pid, 'SIGCONT')));
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    pause: async () => {
      for (const pid of await serverProcesses()) {
        process.kill(pid, 'SIGSTOP');
        paused.push(pid);
      }
    },
    resume,
    log: () => readFile(join(dir, 'log'), 'utf8'),
    processes: serverProcesses,
    destroy: async () => {
      await resume();
      process.removeListener('exit', stopAtExit);
      if (running) await stop('immediate').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The processes whose parent is `pid`, from /proc (Linux). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/u.test(entry)) continue;
    // Field 4 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces).
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent === pid) children.push(Number(entry));
  }
  return children;
}
