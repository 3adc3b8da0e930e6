/**
 * The file store's commit of a password sign-in alone, without HTTP or hashing: Store.openSignIn
 * called one after another in this process, and what each costs the whole process (every thread:
 * the event loop and libuv's pool) in CPU time and in context switches, voluntary (a thread slept
 * and was woken: a request to the pool, its answer) and involuntary (a thread lost its core).
 * During a login storm on a machine with no spare core every such wake takes a core from a hash
 * (issue 17), and these counts move far less than a rate on a loaded machine.
 *
 * BENCH_BASELINE=<a checkout of restauth> runs its store beside this checkout's, interleaved round
 * by round (which goes first alternates). BENCH_ROUNDS (9) and BENCH_SIGN_INS (1,000 per round).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as FileStoreModule from '../src/stores/file/index.js';
import { signInWrites, writeOneUserFolder } from '../test/support/file-sign-in.js';
import { table } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const SIGN_INS = Number(process.env.BENCH_SIGN_INS ?? 1000);
/** Sign-ins before the measured ones: the JIT's and the journal's start (its open). */
const WARM_UP = 100;
const repoRoot = join(import.meta.dirname, '..');

interface PerSignIn {
  cpuUs: number;
  voluntary: number;
  involuntary: number;
}

async function measure(checkout: string): Promise<PerSignIn> {
  // Each checkout's own store: a baseline's modules are its own files, loaded beside this one's.
  const { FileDatabase, FileStore } = (await import(
    join(checkout, 'src/stores/file/index.ts')
  )) as typeof FileStoreModule;
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-sign-in-commit-'));
  try {
    await writeOneUserFolder(dir, 'kate');
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      logger: { info() {}, warn() {} },
      // No timed compaction: what is measured is the sign-ins' commits.
      compactAfterMs: 3_600_000,
    });
    const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
    try {
      let n = 0;
      // At the bench login's cap (sessions.maxPerUser): past it, each sign-in also ends the oldest session.
      const signIn = () => store.openSignIn(signInWrites('kate', ++n, 100));
      for (let i = 0; i < WARM_UP; i++) await signIn();
      const before = process.resourceUsage();
      for (let i = 0; i < SIGN_INS; i++) await signIn();
      const after = process.resourceUsage();
      const cpu = after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime;
      return {
        cpuUs: cpu / SIGN_INS,
        voluntary: (after.voluntaryContextSwitches - before.voluntaryContextSwitches) / SIGN_INS,
        involuntary: (after.involuntaryContextSwitches - before.involuntaryContextSwitches) / SIGN_INS,
      };
    } finally {
      await db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runSignInCommitBench(): Promise<void> {
  const checkouts: Array<[string, string]> = [['restauth', repoRoot]];
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) checkouts.push([`baseline (${baseline})`, baseline]);
  const load = () =>
    loadavg()
      .map((value) => value.toFixed(1))
      .join(' ');
  console.log(
    `\n## File store: one sign-in's commit (${SIGN_INS} in a row, medians of ${ROUNDS} interleaved rounds; ` +
      `load average ${load()} at the start)\n`,
  );
  const runs = new Map<string, PerSignIn[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? checkouts : [...checkouts].reverse();
    for (const [name, checkout] of order)
      runs.set(name, [...(runs.get(name) ?? []), await measure(checkout)]);
  }
  const rows = [...runs].map(([name, samples]) => ({
    store: name,
    'CPU µs/sign-in': median(samples.map((s) => s.cpuUs)).toFixed(0),
    'CPU µs, each round': samples.map((s) => s.cpuUs.toFixed(0)).join(' '),
    'voluntary switches/sign-in': median(samples.map((s) => s.voluntary)).toFixed(2),
    'involuntary switches/sign-in': median(samples.map((s) => s.involuntary)).toFixed(2),
  }));
  console.log(table(rows));
  console.log(
    'CPU and context switches of this whole process (getrusage) per sign-in: Store.openSignIn of one ' +
      `user at a cap of 100 sessions, no audit event, no HTTP, no hash; load average ${load()} at the end`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await runSignInCommitBench();
