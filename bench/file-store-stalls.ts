/**
 * The longest event-loop stall of the file store's whole-file jobs: the hourly audit prune of
 * 100,000 events (half of them pruned), and the compaction of credentials.json at 50,000 users
 * (23 MB; here at close, which compacts as the journal's growth does), and a transaction over the
 * whole of db.json (documentTransactionStall). While any of them holds the
 * loop, no request is answered. Measured in this process by perf_hooks' event-loop delay histogram
 * (its max, and the job's wall time beside it), each job BENCH_ROUNDS times (3), medians printed.
 *
 * BENCH_BASELINE=<a checkout of restauth with its node_modules, e.g. `git archive` of an older
 * commit inside this one> runs the same jobs on that checkout's code beside this one: the prune and
 * the compaction of before, made in one go.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type * as AuditModule from '../src/stores/file/audit-file.js';
import type * as FileStoreModule from '../src/stores/file/index.js';
import { seed } from './file-store.js';
import { table } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EVENTS = 100_000;
const USERS = 50_000;
const POSTS = 10_000;
const repoRoot = join(import.meta.dirname, '..');

type Job = 'prune' | 'compaction' | 'document';
const JOB_NAMES: Record<Job, string> = {
  prune: `audit prune, ${EVENTS} events`,
  compaction: `credentials compaction, ${USERS} users`,
  document: `whole-document transaction, ${USERS} users, ${POSTS} posts`,
};

interface Stall {
  /** The longest event-loop delay seen during the job (ms). */
  maxDelayMs: number;
  /** Its 99th percentile (ms): the max also holds a garbage collection's pause, and on a loaded machine the time the process was not scheduled. */
  p99DelayMs: number;
  wallMs: number;
}

/** Runs `job` with the event-loop delay histogram on: its longest delay and the job's wall time. */
async function stallOf(job: () => Promise<unknown>): Promise<Stall> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const started = performance.now();
  await job();
  const wallMs = performance.now() - started;
  histogram.disable();
  return { maxDelayMs: histogram.max / 1e6, p99DelayMs: histogram.percentile(99) / 1e6, wallMs };
}

async function pruneStall(checkout: string, dir: string): Promise<Stall> {
  const { AuditFile, auditLineText } = (await import(
    pathToFileURL(join(checkout, 'src/stores/file/audit-file.ts')).href
  )) as typeof AuditModule;
  const path = join(dir, 'credentials.audit.jsonl');
  const old = Date.UTC(2020, 0, 1);
  const recent = Date.now();
  const lines: string[] = [];
  for (let n = 0; n < EVENTS; n++) {
    const at = new Date((n % 2 === 0 ? old : recent) + n);
    lines.push(
      auditLineText({
        id: `event-${n}`,
        at,
        action: 'login',
        actorId: null,
        userId: `user${n % 1000}`,
        ip: '192.0.2.1',
        data: {},
      }),
    );
  }
  await writeFile(path, lines.join(''), { mode: 0o600 });
  const log = new AuditFile(path);
  try {
    return await stallOf(() => log.prune(new Date(Date.UTC(2025, 0, 1))));
  } finally {
    await log.close();
  }
}

/**
 * The checkout's file store on the seeded files, a sign-in journaled (credentials.json's journal
 * holds lines, as it does between compactions).
 */
async function openSignedIn(checkout: string, dir: string, seeded: { data: string; credentials: string }) {
  const { FileDatabase, FileStore } = (await import(
    pathToFileURL(join(checkout, 'src/stores/file/index.ts')).href
  )) as typeof FileStoreModule;
  await writeFile(join(dir, 'db.json'), seeded.data);
  await writeFile(join(dir, 'credentials.json'), seeded.credentials, { mode: 0o600 });
  const db = await FileDatabase.open({
    dataFile: join(dir, 'db.json'),
    credentialsFile: join(dir, 'credentials.json'),
    logger: { info() {}, warn() {} },
  });
  const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
  await store.updateUser('user7', { lastSignInAt: new Date() });
  return db;
}

async function compactionStall(
  checkout: string,
  dir: string,
  seeded: { data: string; credentials: string },
): Promise<Stall> {
  const db = await openSignedIn(checkout, dir, seeded);
  return stallOf(() => db.close());
}

/**
 * A transaction over the whole of db.json (the data API's DELETE with `_dependent`) at 50,000 users,
 * credentials.json's journal holding a sign-in as it does between compactions: before, its commit
 * built, hashed and (journal not empty) rewrote all of credentials.json on the loop; now it rewrites
 * db.json alone (whole: users and POSTS posts), which is what is left of its stall.
 */
async function documentTransactionStall(
  checkout: string,
  dir: string,
  seeded: { data: string; credentials: string },
): Promise<Stall> {
  const posts = Array.from({ length: POSTS }, (_, id) => ({
    id,
    userId: `user${id % USERS}`,
    title: `post ${id}`,
  }));
  const data = JSON.stringify({ ...(JSON.parse(seeded.data) as object), posts });
  const db = await openSignedIn(checkout, dir, { ...seeded, data });
  try {
    return await stallOf(() =>
      db.transactDocument((data) => {
        data.posts = (data.posts as Array<{ userId: string }>).filter((post) => post.userId !== 'user7');
      }),
    );
  } finally {
    await db.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runFileStoreStallsBench(): Promise<void> {
  const checkouts: Array<[string, string]> = [['this checkout', repoRoot]];
  if (process.env.BENCH_BASELINE) checkouts.push(['baseline', process.env.BENCH_BASELINE]);
  // A real bcrypt hash's length; its value is never checked here.
  const seeded = seed(USERS, '$2b$04$'.padEnd(60, 'a'));
  const rows: Array<Record<string, string | number>> = [];
  const results = new Map<string, Record<Job, Stall[]>>();
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved: a slower moment of a shared machine falls on both.
    for (const [name, checkout] of checkouts) {
      const result = results.get(name) ?? { prune: [], compaction: [], document: [] };
      results.set(name, result);
      const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-stalls-'));
      try {
        result.prune.push(await pruneStall(checkout, dir));
        result.compaction.push(await compactionStall(checkout, dir, seeded));
        result.document.push(await documentTransactionStall(checkout, dir, seeded));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  for (const [name, result] of results) {
    for (const job of ['prune', 'compaction', 'document'] as const) {
      rows.push({
        code: name,
        job: JOB_NAMES[job],
        'longest stall ms': median(result[job].map((stall) => stall.maxDelayMs)).toFixed(1),
        'p99 delay ms': median(result[job].map((stall) => stall.p99DelayMs)).toFixed(1),
        'wall ms': median(result[job].map((stall) => stall.wallMs)).toFixed(0),
      });
    }
  }
  console.log(
    `\nfile store: the longest event-loop stall of its whole-file jobs (median of ${ROUNDS}; load ${loadavg()[0]!.toFixed(1)})`,
  );
  console.log(table(rows));
}
