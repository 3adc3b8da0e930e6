import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { hashSecret } from '../../src/core/secrets.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { exitOf, untilOutput } from '../support/child-waits.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * SIGTERM while refreshes wait in PostgreSQL: the real server, on a cluster of the test's own; a
 * DBA's transaction holds every session's row, so each refresh waits for it; the server is told to
 * stop; the transaction then ends and the refreshes go on. Each client must get its answer (200, its new
 * token) before the process exits 0: the stop closes the pool only once the requests in flight are
 * over, never under a waiting batch. Those answers say `Connection: close`, so the keep-alive client
 * lets the stopping server go at once.
 */
describe('SIGTERM with refreshes in flight (PostgreSQL)', { skip: ownClusterUnavailable() ?? false }, () => {
  let cluster: OwnCluster;
  let dir: string;
  let server: RestauthProcess;

  const asAdmin = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      return (await admin.query<R>(sql, params)).rows;
    } finally {
      await admin.end();
    }
  };
  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  before(async () => {
    cluster = await startOwnCluster();
    dir = await mkdtemp(join(tmpdir(), 'restauth-sigterm-'));
    await writeFile(
      join(dir, 'restauth.json'),
      JSON.stringify({ passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } }),
    );
    server = await spawnRestauth(dir, [], {
      DATABASE_URL: cluster.url,
      RESTAUTH_JWT_SECRET: 'sigterm-suite-secret-0123456789abcdef',
      RESTAUTH_LOG_LEVEL: 'warn',
    });
  });
  after(async () => {
    if (server?.child.exitCode === null && server.child.signalCode === null) await server.kill();
    await cluster?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers every refresh waiting in PostgreSQL, then exits 0', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      const signUp = await post('/auth/v1/signup', {
        email: `term-${i}@example.com`,
        password: 'a passphrase',
      });
      assert.equal(signUp.status, 200, await signUp.clone().text());
      tokens.push(((await signUp.json()) as { refresh_token: string }).refresh_token);
    }
    // A DBA's transaction holds every session's row: each refresh waits for it.
    const holder = new pg.Client({ connectionString: cluster.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM auth.sessions FOR UPDATE');
      const exited = exitOf(server.child);
      const answers = tokens.map((token) =>
        post('/auth/v1/token?grant_type=refresh_token', { refresh_token: token }).then(async (response) => ({
          status: response.status,
          connection: response.headers.get('connection'),
          body: (await response.json()) as { refresh_token?: string },
        })),
      );
      // Watched from outside the holder's transaction, whose view of pg_stat_activity stays as first read.
      const watch = new pg.Pool({ connectionString: cluster.url, max: 1 });
      await lockWaiters(watch, tokens.length).finally(() => watch.end());
      server.child.kill('SIGTERM');
      await untilOutput(server.child, server.output, /SIGTERM received, closing/u);
      await holder.query('COMMIT');
      await checkAnswers(await Promise.all(answers), exited);
    } finally {
      await holder.end();
    }
  });

  async function checkAnswers(
    answered: { status: number; connection: string | null; body: { refresh_token?: string } }[],
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  ) {
    for (const [index, answer] of answered.entries()) {
      assert.equal(answer.status, 200, `refresh ${index}: ${JSON.stringify(answer.body)}`);
      assert.ok(answer.body.refresh_token, `refresh ${index} has its new token`);
      // Answered while closing: fetch keeps its connection alive otherwise, and the close waited the
      // 72 s keep-alive timeout for it to go.
      assert.equal(answer.connection, 'close', `refresh ${index} ends its connection`);
    }
    const { code, signal } = await exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, server.output());
    // What was answered is what was stored: each new token is the live one of its session.
    const rows = await asAdmin<{ n: number }>(
      'SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE token = ANY($1) AND NOT revoked',
      [answered.map((answer) => hashSecret(answer.body.refresh_token!))],
    );
    assert.equal(rows[0]!.n, answered.length);
  }
});
