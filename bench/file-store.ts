/**
 * Sign-in, refresh, logout and sign-up on the file store at 1,000 and 50,000
 * users: each should cost the same whatever the number of users
 * (credentials.json is 0.5 MB at 1,000 users, 23 MB at 50,000). Printed as
 * rates and as the ratio 50k / 1k (1.0: no growth); a sign-up also as the
 * server's CPU time per sign-up (/proc of the server process: steadier than
 * its rate on a shared machine), with its ratio, under CLIENTS clients and as a
 * trickle (one client, TRICKLE_GAP_MS between sign-ups), each counted until
 * db.json holds the sign-ups (its journal emptied). The users are seeded straight into
 * db.json and credentials.json (a bcrypt cost-4 password, an account and
 * one session each), so the hashing is cheap and the store's cost shows.
 *
 * BENCH_BASELINE=<a checkout of restauth, e.g. a worktree of an older
 * commit> runs the same load on that checkout's server beside this one (the
 * whole-file credentials.json of before the journal: see README).
 * BENCH_USERS=1000,50000 sets the sizes, BENCH_SECONDS each phase's length,
 * BENCH_ROUNDS the interleaved rounds whose medians are printed (3).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { loadavg } from 'node:os';
import { cpuSeconds, freePort, startProcess, stopProcess, table } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = 16;
/** The pause between two sign-ups of the trickle phase (one client): the writes of a quiet server. */
const TRICKLE_GAP_MS = 100;
const SIZES = (process.env.BENCH_USERS ?? '1000,50000').split(',').map(Number);
const PASSWORD = 'bench-password';
const SECRET = 'file-store-bench-secret-0123456789abcdef';
const repoRoot = join(import.meta.dirname, '..');

interface Rates {
  signIn: number;
  refresh: number;
  logout: number;
  signUp: number;
  /** The server's CPU milliseconds per acknowledged sign-up. */
  signUpCpuMs: number;
  /** The same for a trickle: one client, a sign-up every TRICKLE_GAP_MS. */
  trickleCpuMs: number;
  failures: number;
  credentialsMb: number;
}

/** db.json and credentials.json with `count` users, each with a password, an account and a live session. */
export function seed(count: number, hash: string): { data: string; credentials: string } {
  const at = new Date().toISOString();
  const notAfter = new Date(Date.now() + 30 * 86_400_000).toISOString();
  const users = Array.from({ length: count }, (_, i) => ({ id: `user${i}` }));
  const account = (id: string) => ({
    username: id,
    email: null,
    emailConfirmedAt: null,
    role: null,
    tokenVersion: 0,
    appMetadata: {},
    createdAt: at,
    updatedAt: at,
    lastSignInAt: at,
  });
  const session = (id: string) => ({
    userId: id,
    createdAt: at,
    refreshedAt: at,
    notAfter,
    revokedAt: null,
    revokedReason: null,
    refreshSecret: `secret-of-${id}-0123456789abcdef0123456789`,
  });
  const accounts = Object.fromEntries(users.map(({ id }) => [id, account(id)]));
  const sessions = Object.fromEntries(users.map(({ id }) => [`session-${id}`, session(id)]));
  const refreshTokens = Object.fromEntries(
    users.map(({ id }) => [
      `hash-of-a-refresh-token-of-${id}-0123456789abcdef`,
      { sessionId: `session-${id}`, createdAt: at, rotatedAt: null },
    ]),
  );
  return {
    data: `${JSON.stringify({ users }, null, 2)}\n`,
    credentials: `${JSON.stringify(
      { passwords: users.map(({ id }) => ({ sub: id, password: hash })), accounts, sessions, refreshTokens },
      null,
      2,
    )}\n`,
  };
}

async function post(
  url: string,
  body: unknown,
): Promise<{ ok: boolean; json: Record<string, string> | null }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    ok: response.ok,
    json: response.ok && text !== '' ? (JSON.parse(text) as Record<string, string>) : null,
  };
}

/** Runs `step` on CLIENTS clients until `seconds` pass or `step` says there is no more work; returns done/s. */
async function phase(seconds: number, step: (client: number) => Promise<boolean | null>) {
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let done = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      while (performance.now() < deadline) {
        const ok = await step(client);
        if (ok === null) return;
        if (ok) done++;
        else failures++;
      }
    }),
  );
  return { rate: done / ((performance.now() - start) / 1000), failures };
}

async function measure(checkout: string, users: number, hash: string): Promise<Rates> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-file-bench-'));
  let server: ChildProcess | null = null;
  try {
    const seeded = seed(users, hash);
    await writeFile(join(dir, 'db.json'), seeded.data);
    await writeFile(join(dir, 'credentials.json'), seeded.credentials, { mode: 0o600 });
    const port = await freePort();
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ port, auth: { passwordSalt: 4, jwtSecret: SECRET } }),
    );
    const base = `http://127.0.0.1:${port}`;
    server = await startProcess(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(checkout, 'src/cli/main.ts'), 'serve'],
      // Reading 23 MB of credentials and compiling TypeScript on a busy machine takes a while.
      {
        cwd: dir,
        env: { RESTAUTH_LOG_LEVEL: 'warn', RESTAUTH_RATE_LIMITS: 'off' },
        url: base,
        startTimeoutMs: 120_000,
      },
    );
    // Warm-up: the first requests compile the routes' code paths.
    for (let i = 0; i < 20; i++) await post(`${base}/auth/login`, { username: 'user0', password: PASSWORD });

    const tokens: string[] = [];
    let failures = 0;
    // Sign-ins of users spread over the whole file; each new session's refresh token is kept for later.
    let next = 0;
    const signIn = await phase(SECONDS, async () => {
      const user = `user${(next++ * 7919) % users}`;
      const answer = await post(`${base}/auth/login`, { username: user, password: PASSWORD });
      if (answer.json) tokens.push(answer.json.refresh_token!);
      return answer.ok;
    });
    failures += signIn.failures;
    // Each client refreshes one session again and again (every refresh rotates its token).
    const held = tokens.splice(0, CLIENTS);
    const refresh = await phase(SECONDS, async (client) => {
      // Fewer sign-ins than clients (a very slow server): the clients without a session sit out.
      if (held[client] === undefined) return null;
      const answer = await post(`${base}/auth/refresh`, { refresh_token: held[client] });
      if (answer.json) held[client] = answer.json.refresh_token!;
      return answer.ok;
    });
    failures += refresh.failures;
    // Logouts of the sessions signed in above, until they run out.
    const logout = await phase(SECONDS, async () => {
      const token = tokens.pop();
      if (token === undefined) return null;
      return (await post(`${base}/auth/logout`, { refresh_token: token })).ok;
    });
    failures += logout.failures;
    // Sign-ups of new users (a json-data-server registration: a db.json record, an account and a password).
    let registered = 0;
    let acknowledged = 0;
    const cpuBefore = await cpuSeconds(server.pid!);
    const signUp = await phase(SECONDS, async (client) => {
      const answer = await post(`${base}/auth/register`, {
        username: `new-${client}-${registered++}`,
        password: PASSWORD,
      });
      if (answer.ok) acknowledged++;
      return answer.ok;
    });
    // db.json is rewritten with the journaled records a while after them: that rewrite is theirs too.
    await journalEmptied(dir);
    const signUpCpu = (await cpuSeconds(server.pid!)) - cpuBefore;
    failures += signUp.failures;
    // A trickle of sign-ups, one at a time with a pause between: each paid a rewrite of db.json
    // when it was rewritten 0.2 s after every journaled write.
    let trickled = 0;
    const trickleStart = await cpuSeconds(server.pid!);
    const trickleEnd = performance.now() + SECONDS * 1000;
    while (performance.now() < trickleEnd) {
      const answer = await post(`${base}/auth/register`, {
        username: `trickle-${trickled}`,
        password: PASSWORD,
      });
      if (answer.ok) trickled++;
      else failures++;
      await new Promise((resolve) => setTimeout(resolve, TRICKLE_GAP_MS));
    }
    await journalEmptied(dir);
    const trickleCpu = (await cpuSeconds(server.pid!)) - trickleStart;
    return {
      signIn: signIn.rate,
      refresh: refresh.rate,
      logout: logout.rate,
      signUp: signUp.rate,
      signUpCpuMs: acknowledged > 0 ? (signUpCpu * 1000) / acknowledged : Number.NaN,
      trickleCpuMs: trickled > 0 ? (trickleCpu * 1000) / trickled : Number.NaN,
      failures,
      credentialsMb: Buffer.byteLength(seeded.credentials) / 1e6,
    };
  } finally {
    if (server) await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves once db.json's journal in `dir` is empty (db.json rewritten with it), looked at every 50 ms, at most 60 s. */
async function journalEmptied(dir: string): Promise<void> {
  const journal = join(dir, '.db.json.journal');
  for (let waited = 0; waited < 60_000; waited += 50) {
    const size = await stat(journal).then(
      (stats) => stats.size,
      () => 0,
    );
    if (size === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runFileStoreBench(): Promise<void> {
  const baseline = process.env.BENCH_BASELINE;
  console.log(
    `\n## File store: sign-in, refresh, logout and sign-up by number of users ` +
      `(${CLIENTS} clients, ${SECONDS} s each, bcrypt cost 4, medians of ${ROUNDS} interleaved rounds; ` +
      `load average ${loadavg()
        .map((load) => load.toFixed(1))
        .join(' ')} at the start)\n`,
  );
  const hash = await bcrypt.hash(PASSWORD, 4);
  const checkouts: Array<[string, string]> = [['restauth (journaled credentials)', repoRoot]];
  if (baseline) checkouts.push([`baseline (${baseline})`, baseline]);
  // Interleaved (every checkout and size in each round): a busy moment of the machine hits all alike.
  const runs = new Map<string, Rates[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, checkout] of checkouts) {
      for (const users of SIZES) {
        const key = `${name}\0${users}`;
        const rates = await measure(checkout, users, hash);
        runs.set(key, [...(runs.get(key) ?? []), rates]);
        console.error(
          `round ${round + 1}, ${name}, ${users} users: ${rates.signIn.toFixed(1)} sign-ins/s, ` +
            `${rates.refresh.toFixed(1)} refreshes/s, ${rates.logout.toFixed(1)} logouts/s, ` +
            `${rates.signUp.toFixed(1)} sign-ups/s at ${rates.signUpCpuMs.toFixed(2)} ms CPU each, ` +
            `a trickle at ${rates.trickleCpuMs.toFixed(2)} ms CPU each`,
        );
      }
    }
  }
  const rows: Array<Record<string, string | number>> = [];
  for (const [name] of checkouts) {
    const medians = SIZES.map((users) => {
      const all = runs.get(`${name}\0${users}`)!;
      return {
        users,
        signIn: median(all.map((run) => run.signIn)),
        refresh: median(all.map((run) => run.refresh)),
        logout: median(all.map((run) => run.logout)),
        signUp: median(all.map((run) => run.signUp)),
        signUpCpuMs: median(all.map((run) => run.signUpCpuMs)),
        trickleCpuMs: median(all.map((run) => run.trickleCpuMs)),
        failures: all.reduce((sum, run) => sum + run.failures, 0),
        credentialsMb: all[0]!.credentialsMb,
      };
    });
    for (const rates of medians) {
      rows.push({
        server: name,
        users: rates.users.toLocaleString('en'),
        'credentials.json MB': rates.credentialsMb.toFixed(1),
        'sign-ins/s': rates.signIn.toFixed(1),
        'refreshes/s': rates.refresh.toFixed(1),
        'logouts/s': rates.logout.toFixed(1),
        'sign-ups/s': rates.signUp.toFixed(1),
        'CPU ms/sign-up': rates.signUpCpuMs.toFixed(2),
        'CPU ms/trickle sign-up': rates.trickleCpuMs.toFixed(2),
        failures: rates.failures,
      });
    }
    const small = medians[0]!;
    const large = medians.at(-1)!;
    rows.push({
      server: name,
      users: `ratio ${large.users / 1000}k / ${small.users / 1000}k`,
      'credentials.json MB': '',
      'sign-ins/s': (large.signIn / small.signIn).toFixed(2),
      'refreshes/s': (large.refresh / small.refresh).toFixed(2),
      'logouts/s': (large.logout / small.logout).toFixed(2),
      'sign-ups/s': (large.signUp / small.signUp).toFixed(2),
      'CPU ms/sign-up': (large.signUpCpuMs / small.signUpCpuMs).toFixed(2),
      'CPU ms/trickle sign-up': (large.trickleCpuMs / small.trickleCpuMs).toFixed(2),
      failures: '',
    });
  }
  console.log(table(rows));
}
