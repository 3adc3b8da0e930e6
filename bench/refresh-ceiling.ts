/**
 * The ceiling under issue 17's refresh goal: what PostgreSQL alone does per second with the rotating
 * refresh's own statements, sent by pgbench (no HTTP, no Node) with 16 refreshes in flight, beside
 * postgrest-auth's bearer refresh's one read-only statement. The statements are the store's texts,
 * caught as a real refresh sends them, so they judge and write each refresh as a served one does
 * (the session locked, the token revoked, its successor inserted, the session touched).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { LOCAL_CALL } from '../src/core/audit.js';
import { cpuTicks } from './postgres.js';
import { PGBENCH } from './postgres-pre-request.js';
import { benchServices } from './postgres-services.js';

const run = promisify(execFile);
/** Refreshes in flight, as the HTTP bench's clients. */
const IN_FLIGHT = 16;
/** Entries per batch statement measured: one each (the one-refresh statement), and shared ones. */
const BATCHES = [1, 4, 16];

/** A rate PostgreSQL reached, and its backends' CPU per refresh (µs). */
export interface Rate {
  perSecond: number;
  backendUs: number;
}

export interface RefreshCeiling {
  /** Rotating refreshes by batch size (entries per statement, 16 in flight). */
  rotating: Map<number, Rate>;
  /** postgrest-auth's bearer refresh's statement, 16 clients. */
  peer: Rate;
  synchronousCommit: string;
}

/** The full texts of the statements `work` sends to `url`'s database, in order. */
async function statementTexts(url: string, work: () => Promise<unknown>): Promise<string[]> {
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  const texts: string[] = [];
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const [first] = args as [string | { text?: string }];
    if (this.database === database) texts.push(typeof first === 'string' ? first : (first.text ?? ''));
    return (query as (...args: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    await work();
    return texts;
  } finally {
    pg.Client.prototype.query = query;
  }
}

/** A timestamp expression as the batch statement takes its times: milliseconds since the epoch. */
const EPOCH_MS = (at: string) => `floor(extract(epoch FROM ${at}) * 1000)::bigint`;

/**
 * pgbench's script rotating `batch` chains per transaction: chain `c` of a client is the tokens
 * `<run>-<client>-<c>-<n>`, its client's variable `n` counting its rotations (pgbench keeps a
 * client's variables from one transaction to the next). `$1`..`$4` of the store's statement become
 * the presented hashes, their successors, now and the inactivity cutoff (a day before now).
 */
function rotationScript(text: string, runId: string, batch: number): string {
  const tokens = (n: string) =>
    `ARRAY[${Array.from({ length: batch }, (_, c) => `'${runId}-' || :client_id || '-${c}-' || ${n}`).join(', ')}]`;
  const one = batch === 1;
  const values: Record<string, string> = {
    $1: one ? `('${runId}-' || :client_id || '-0-' || :n)` : tokens(':n'),
    $2: one ? `('${runId}-' || :client_id || '-0-' || :next)` : tokens(':next'),
    $3: one ? 'now()' : `array_fill(${EPOCH_MS('now()')}, ARRAY[${batch}])`,
    $4: one
      ? `now() - interval '1 day'`
      : `array_fill(${EPOCH_MS(`now() - interval '1 day'`)}, ARRAY[${batch}])`,
  };
  if (/\$[05-9]/.test(text)) throw new Error('the refresh statement takes other parameters than $1..$4');
  // The statement on one line: pgbench reads a command up to its semicolon, but its comments end at a newline.
  const sql = text
    .replace(/--[^\n]*/g, '')
    .replace(/\$[1-4]\b/g, (name) => values[name]!)
    .replace(/\s+/g, ' ');
  return `\\set next :n + 1\n${sql};\n\\set n :next\n`;
}

/** A pgbench run: its transactions, and the CPU its backends spent (µs). */
interface Run {
  transactions: number;
  backendUs: number;
}

/**
 * `script` run by pgbench on `url` for `seconds`. Its backends' CPU is read from /proc every 100 ms
 * while it runs, each backend's last reading kept: a backend ends with its connection, taking its
 * counts with it, so the CPU of a run's last 100 ms at most goes uncounted.
 */
async function pgbench(
  observer: pg.Client,
  url: string,
  dir: string,
  script: string,
  clients: number,
  seconds: number,
): Promise<Run> {
  const file = join(dir, `${clients}-${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(file, script);
  const args = ['-n', '-M', 'prepared', '-D', 'n=0', '-f', file, '-c', String(clients)];
  let finished = false;
  const running = run(PGBENCH, [...args, '-j', '2', '-T', String(seconds), url]).finally(
    () => (finished = true),
  );
  const ticks = new Map<number, number>();
  while (!finished) {
    const { rows } = await observer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbench'`,
    );
    for (const { pid } of rows) {
      const now = cpuTicks(pid);
      if (now !== null) ticks.set(pid, now);
    }
    await Promise.race([running, new Promise((resolve) => setTimeout(resolve, 100))]).catch(() => {});
  }
  const { stdout } = await running;
  const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!processed || (failed && failed[1] !== '0')) throw new Error(`pgbench:\n${stdout}`);
  let total = 0;
  for (const value of ticks.values()) total += value;
  return { transactions: Number(processed[1]), backendUs: total * 10_000 };
}

/**
 * The ceiling on the database `url` (a new one, given to this alone): sessions signed in by restauth,
 * then each batch size's pgbench run on chains of its own, each rotation checked to have been written.
 */
export async function refreshCeiling(url: string, seconds: number): Promise<RefreshCeiling> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-refresh-ceiling-'));
  const { services } = await benchServices(url, dir);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { auth } = services;
    const refreshTokens: string[] = [];
    // A session per chain of each batch size's run, and three for the statements caught.
    const sessions = IN_FLIGHT * BATCHES.length + 3;
    for (let user = 0; refreshTokens.length < sessions; user++) {
      const account = { username: `ceiling${user}`, password: 'bench password' };
      await auth.signUp(LOCAL_CALL, account);
      for (let c = 0; c < 16; c++)
        refreshTokens.push((await auth.signIn(LOCAL_CALL, account.username, account.password)).refreshToken);
    }
    // Two refreshes at once share the batch statement; one alone is sent by the one-refresh statement.
    const [batchText] = await statementTexts(url, () =>
      Promise.all([
        auth.refresh(LOCAL_CALL, refreshTokens.pop()!),
        auth.refresh(LOCAL_CALL, refreshTokens.pop()!),
      ]),
    );
    const [oneText] = await statementTexts(url, () => auth.refresh(LOCAL_CALL, refreshTokens.pop()!));
    if (!batchText?.includes('unnest') || !oneText?.startsWith('WITH found'))
      throw new Error('the refresh statements were not caught');
    const rotating = new Map<number, Rate>();
    for (const batch of BATCHES) {
      const runId = `ceiling${batch}`;
      const clients = IN_FLIGHT / batch;
      // Each client's chains start at n = 0: the live tokens of `clients × batch` sessions renamed.
      await client.query(
        `WITH live AS (
           SELECT t.id, row_number() OVER (ORDER BY t.id) - 1 AS k FROM auth.refresh_tokens t
           WHERE t.revoked IS NOT TRUE AND t.token NOT LIKE 'ceiling%' ORDER BY t.id LIMIT $2)
         UPDATE auth.refresh_tokens t SET token = $1 || '-' || (live.k / $3) || '-' || (live.k % $3) || '-0'
         FROM live WHERE t.id = live.id`,
        [runId, clients * batch, batch],
      );
      const script = rotationScript(batch === 1 ? oneText : batchText, runId, batch);
      const { transactions, backendUs } = await pgbench(client, url, dir, script, clients, seconds);
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE token LIKE $1 || '-%' AND token NOT LIKE '%-0'`,
        [runId],
      );
      if (rows[0]!.n !== transactions * batch)
        throw new Error(`pgbench's ${transactions} transactions of ${batch} rotated ${rows[0]!.n} tokens`);
      rotating.set(batch, {
        perSecond: (transactions * batch) / seconds,
        backendUs: backendUs / (transactions * batch),
      });
    }
    // postgrest-auth's bearer refresh, once the token verified: its user's row, read by username.
    await client.query(`CREATE TABLE ceiling_users (
      id serial PRIMARY KEY, username varchar(20) UNIQUE NOT NULL, username_lowercase varchar(20) UNIQUE NOT NULL,
      email text UNIQUE, password text NOT NULL, token_count integer NOT NULL DEFAULT 0)`);
    await client.query(`INSERT INTO ceiling_users (username, username_lowercase, password)
      SELECT 'user' || i, 'user' || i, 'unused' FROM generate_series(0, ${IN_FLIGHT - 1}) i`);
    const peerScript = `SELECT * FROM ceiling_users WHERE username_lowercase = 'user' || :client_id LIMIT 1;\n`;
    const read = await pgbench(client, url, dir, peerScript, IN_FLIGHT, seconds);
    const peer = { perSecond: read.transactions / seconds, backendUs: read.backendUs / read.transactions };
    const { rows } = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
    return { rotating, peer, synchronousCommit: rows[0]!.synchronous_commit };
  } finally {
    await client.end();
    await services.close();
    await rm(dir, { recursive: true, force: true });
  }
}
