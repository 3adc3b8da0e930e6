import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { hashSecret } from '../../src/core/secrets.js';
import { exitOf, untilOutput } from '../support/child-waits.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * SIGTERM while refreshes wait for their commit: the real server, on a cluster of the test's own,
 * whose commits are made to wait (a synchronous standby named that never comes) once the users are
 * signed up. The refreshes are written and wait for their commit; the server is told to stop; the standby
 * question is then settled and the commits answer. Each client must get its answer (200, its new
 * token) before the process exits 0: the stop closes the pool only once the requests in flight are
 * over, never under a waiting batch.
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

  it('answers every refresh waiting for its commit, then exits 0', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      const signUp = await post('/auth/v1/signup', {
        email: `term-${i}@example.com`,
        password: 'a passphrase',
      });
      assert.equal(signUp.status, 200, await signUp.clone().text());
      tokens.push(((await signUp.json()) as { refresh_token: string }).refresh_token);
    }
    await asAdmin(`ALTER SYSTEM SET synchronous_standby_names = 'phantom'`);
    await asAdmin('SELECT pg_reload_conf()');
    const exited = exitOf(server.child);
    // One at a time, each in flight once its commit waits for the standby (a commit waiting so is not
    // visible to others yet: the waiting backends are counted).
    const answers = [];
    for (const [index, token] of tokens.entries()) {
      answers.push(
        post('/auth/v1/token?grant_type=refresh_token', { refresh_token: token }).then(async (response) => ({
          status: response.status,
          body: (await response.json()) as { refresh_token?: string },
        })),
      );
      for (;;) {
        const rows = await asAdmin<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
        );
        if (rows[0]!.n === index + 1) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    server.child.kill('SIGTERM');
    await untilOutput(server.child, server.output, /SIGTERM received, closing/u);
    await asAdmin('ALTER SYSTEM RESET synchronous_standby_names');
    await asAdmin('SELECT pg_reload_conf()');
    const answered = await Promise.all(answers);
    for (const [index, answer] of answered.entries()) {
      assert.equal(answer.status, 200, `refresh ${index}: ${JSON.stringify(answer.body)}`);
      assert.ok(answer.body.refresh_token, `refresh ${index} has its new token`);
    }
    const { code, signal } = await exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, server.output());
    // What was answered is what was stored: each new token is the live one of its session.
    const rows = await asAdmin<{ n: number }>(
      'SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE token = ANY($1) AND NOT revoked',
      [answered.map((answer) => hashSecret(answer.body.refresh_token!))],
    );
    assert.equal(rows[0]!.n, tokens.length);
  });
});
