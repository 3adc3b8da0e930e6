import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import pg from 'pg';
import { exitOf, untilOutput } from '../support/child-waits.js';
import { realServerOnly, testPostgres } from '../support/postgres.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * SIGTERM while sign-ins are being handled, some of whose clients have hung up. Fastify's close waits
 * for open connections only, so the stores used to close under the hung-up clients' handlers: a 500 with
 * a stack trace in the log, and a session half written. Now the close waits for every request in
 * flight (RequestsInFlight, bounded by GoTrue's minute), then closes the services.
 *
 * Each sign-in is held by its client: its headers sent (counted in flight by
 * restauth_http_requests_in_flight), the last byte of its body not, so none can finish before all are
 * counted. Then the connected clients' bodies are completed first, the hung-up clients' next, and those
 * hang up: their hashes are computed last (one thread, in order), so the connected clients' connections
 * end while the hung-up clients' handlers still have a hash and a write to do. The SIGTERM is sent
 * meanwhile; on PostgreSQL every sign-in also waits for a lock the test holds on the user's row until
 * the SIGTERM has been received.
 *
 * The test waited on counts that could be missed, spinning for ever: on the file store nothing held the
 * first sign-in, whose answer on a busy machine came before the last was counted; on PostgreSQL the
 * lock waiters were counted in pg_stat_activity from inside the holder's transaction, which sees only
 * the backends of its first look, not a connection the pool opened later.
 */
const SIGN_INS = 4;
const HUNG_UP = 2;
/** One hashing thread: hashes are computed in the order their sign-ins' bodies came. */
const HASHING = { algorithm: 'bcrypt', bcryptRounds: 10, concurrency: 1 };
const password = 'a passphrase';
const jwtSecret = 'shutdown-suite-secret-0123456789abcdef';

interface Answer {
  status: number;
  body: string;
}

/**
 * A sign-in over a connection of its own (hanging it up ends that connection), held: its headers and its
 * body but the last byte are sent. `finish` sends that byte, resolving once it is handed to the system.
 */
function heldSignIn(
  url: string,
  email: string,
): { request: ClientRequest; answer: Promise<Answer>; finish(): Promise<void> } {
  const body = Buffer.from(JSON.stringify({ email, password }));
  const request = httpRequest(`${url}/auth/v1/token?grant_type=password`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length, connection: 'close' },
    agent: false,
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
  });
  request.write(body.subarray(0, -1));
  const finish = () => new Promise<void>((resolve) => request.end(body.subarray(-1), resolve));
  return { request, answer, finish };
}

async function post(url: string, path: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.text() };
}

/** Requests being handled, the scrape itself left out. */
async function inFlight(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^restauth_http_requests_in_flight (\d+)$/mu.exec(text);
  assert.ok(match, 'restauth_http_requests_in_flight is served');
  return Number(match[1]) - 1;
}

/**
 * Resolves once `condition` holds, checked again on each event-loop turn with I/O between; fails once
 * `server` has exited, rather than asking a server that is gone for ever.
 */
async function until(server: RestauthProcess, condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) {
    if (server.child.exitCode !== null || server.child.signalCode !== null)
      throw new Error(`restauth exited while the test waited:\n${server.output()}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function stoppedDuringSignIns(
  server: RestauthProcess,
  email: string,
  /** Called once the SIGTERM has been received: lets the held sign-ins go on. */
  release: () => Promise<void>,
): Promise<{ connected: Answer[]; code: number | null; output: string }> {
  const connected = Array.from({ length: SIGN_INS - HUNG_UP }, () => heldSignIn(server.url, email));
  const hungUp = Array.from({ length: HUNG_UP }, () => heldSignIn(server.url, email));
  for (const { answer } of hungUp) answer.catch(() => {});
  // None can finish before its last byte: the count reaches every sign-in and stays there.
  await until(server, async () => (await inFlight(server.url)) === SIGN_INS);
  // The connected clients' bodies first: their handlers, so their hashes, come first (one thread, in
  // order), and their connections end while the hung-up clients' handlers still have work to do.
  for (const { finish } of connected) await finish();
  for (const { finish } of hungUp) await finish();
  // Their clients hang up, the whole request sent, while their handlers run.
  for (const { request } of hungUp) request.destroy();
  // At 'close', not 'exit': the output returned is read to its end.
  const exited = exitOf(server.child).then(({ code }) => code);
  server.child.kill('SIGTERM');
  // On its output, not by asking on each turn: a spinning test took a core from the server it waits for.
  await untilOutput(server.child, server.output, /SIGTERM received/u);
  await release();
  const answers = await Promise.all(connected.map(({ answer }) => answer));
  const code = await exited;
  return { connected: answers, code, output: server.output() };
}

/** Sign-ins in the audit log (GoTrue's admin listing): one per sign-in that completed, the sign-up's too. */
async function signInsAudited(url: string): Promise<number> {
  const service = await new SignJWT({ role: 'service_role' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(jwtSecret));
  const response = await fetch(`${url}/auth/v1/admin/audit?per_page=100`, {
    headers: { authorization: `Bearer ${service}` },
  });
  assert.equal(response.status, 200);
  const events = (await response.json()) as { payload: { action: string } }[];
  return events.filter((event) => event.payload.action === 'sign_in').length;
}

function assertCleanStop(result: { connected: Answer[]; code: number | null; output: string }): void {
  for (const answer of result.connected) {
    assert.equal(answer.status, 200, answer.body);
    assert.ok((JSON.parse(answer.body) as { access_token?: string }).access_token);
  }
  assert.equal(result.code, 0, result.output);
  assert.doesNotMatch(result.output, /"status":5\d\d|"level":50|\n\s+at /u, result.output);
}

describe('SIGTERM with sign-ins in flight', { timeout: 300_000 }, () => {
  const dirs: string[] = [];
  const servers: RestauthProcess[] = [];
  after(async () => {
    for (const server of servers) if (server.child.exitCode === null) await server.kill();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const project = async (settings: object) => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-shutdown-'));
    dirs.push(dir);
    // The held sign-ins' bodies may wait long on a busy machine: not cut at the default 30 s (408).
    const base = { metrics: { enabled: true }, requestTimeout: 3600 };
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ ...base, ...settings }));
    return dir;
  };
  const start = async (dir: string, env: NodeJS.ProcessEnv = {}) => {
    const server = await spawnRestauth(dir, [], {
      RESTAUTH_JWT_SECRET: jwtSecret,
      RESTAUTH_LOG_FORMAT: 'json',
      ...env,
    });
    servers.push(server);
    return server;
  };

  it('file store: every request finishes, connected clients get their 200, exit 0, the data whole', async () => {
    const dir = await project({ passwords: HASHING });
    const server = await start(dir);
    const email = 'file@example.com';
    assert.equal((await post(server.url, '/auth/v1/signup', { email, password })).status, 200);
    const result = await stoppedDuringSignIns(server, email, async () => {});
    assertCleanStop(result);

    // Restarted on the same files: every sign-in written, the hung-up clients' too, the refresh tokens
    // answered usable.
    const again = await start(dir);
    try {
      // The sign-up's and one per sign-in.
      assert.equal(await signInsAudited(again.url), 1 + SIGN_INS);
      for (const answer of result.connected) {
        const { refresh_token } = JSON.parse(answer.body) as { refresh_token: string };
        const refreshed = await post(again.url, '/auth/v1/token?grant_type=refresh_token', { refresh_token });
        assert.equal(refreshed.status, 200, refreshed.body);
      }
    } finally {
      assert.equal(await again.stop(), 0);
    }
  });

  it(
    'PostgreSQL: every request finishes, connected clients get their 200, exit 0, every session stored',
    {
      skip: realServerOnly() ?? false,
    },
    async () => {
      const databaseUrl = await (await testPostgres()).createDatabase();
      const dir = await project({ passwords: HASHING });
      // The sign-ins wait on the row lock until the SIGTERM: on a busy machine longer than the default
      // 15 s statement_timeout, whose 503 would end them first. Unbounded here: the test releases it.
      const server = await start(dir, { DATABASE_URL: databaseUrl, RESTAUTH_DB_QUERY_TIMEOUT: '0' });
      const email = 'postgres@example.com';
      assert.equal((await post(server.url, '/auth/v1/signup', { email, password })).status, 200);
      const holder = new pg.Client({ connectionString: databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT id FROM auth.users WHERE email = $1 FOR UPDATE', [email]);
        // Every sign-in, its hash done, waits for the user's row until the SIGTERM has been received.
        const result = await stoppedDuringSignIns(server, email, async () => {
          await holder.query('COMMIT');
        });
        assertCleanStop(result);
        const { rows } = await holder.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE u.email = $1',
          [email],
        );
        // The sign-up's session and one per sign-in, the hung-up clients' too.
        assert.equal(rows[0]!.n, 1 + SIGN_INS);
      } finally {
        await holder.end();
      }
    },
  );
});
