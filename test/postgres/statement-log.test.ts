import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { deriveSecret } from '../../src/core/secrets.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { testStoreConfig } from '../support/postgres.js';
import { createGoTrueMadeDatabase, type GoTrueMadeDatabase } from './gotrue-made-database.js';

const SECRET = 'statement-log-secret-0123456789abcdef-0123';

/**
 * Whoever reads PostgreSQL's statement log (log_statement = 'all' with every parameter in full, as
 * an operator turns on to debug, or auto_explain, or a failed statement's DETAIL) and also holds the
 * database's contents (each session's secret, the refresh tokens' hashes) must not get a live refresh
 * token: no token a client holds, nor anything it or its successors are derived from, is ever sent to
 * PostgreSQL; only their hashes are. A cluster of its own, logging every statement with its
 * parameters, serves a GoTrue-made database (so imported GoTrue tokens are refreshed too), and the
 * test reads its log file.
 */
describe(
  "PostgreSQL's statement log never holds a refresh token",
  { skip: ownClusterUnavailable() ?? false },
  () => {
    let cluster: OwnCluster;
    let pool: pg.Pool;
    let made: GoTrueMadeDatabase;
    let t: TestApp;
    /** Every refresh token restauth answered with. */
    const issued = new Set<string>();

    before(async () => {
      cluster = await startOwnCluster({
        settings: {
          log_statement: 'all',
          log_parameter_max_length: '-1',
          log_parameter_max_length_on_error: '-1',
          log_min_error_statement: 'error',
          log_min_duration_statement: '0',
        },
      });
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      await admin.query('CREATE DATABASE statement_log');
      await admin.end();
      const url = new URL(cluster.url);
      url.pathname = '/statement_log';
      made = await createGoTrueMadeDatabase(url.toString());
      pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
      t = await createTestApp({
        format: 'restauth',
        config: { store: testStoreConfig(url.toString()), passwords: { algorithm: 'argon2id' } },
        env: { RESTAUTH_JWT_SECRET: SECRET },
      });
    });
    after(async () => {
      await t?.close();
      await pool?.end();
      await cluster?.destroy();
    });

    async function token(url: string, payload: Record<string, string>, status = 200): Promise<string> {
      const res = await t.app.inject({ method: 'POST', url, payload });
      assert.equal(res.statusCode, status, res.body);
      const refreshToken = (res.json() as { refresh_token?: string }).refresh_token ?? '';
      if (refreshToken !== '') issued.add(refreshToken);
      return refreshToken;
    }
    /** Every session's secret, read while it exists (an ended session's goes with it). */
    const secrets = new Set<string>();
    /** Their chains (restauth.session_secrets.chain). */
    const chains = new Set<number>();
    const signIn = async () => {
      const first = await token('/auth/v1/token?grant_type=password', {
        email: made.users[0].email,
        password: made.users[0].password,
      });
      const { rows } = await pool.query<{ secret: string; chain: number }>(
        `SELECT k.refresh_secret AS secret, k.chain FROM restauth.session_secrets k
         WHERE k.session_id <> ALL ($1::uuid[])`,
        [[made.v1.sessionId, made.v2.sessionId]],
      );
      for (const row of rows) {
        secrets.add(row.secret);
        chains.add(row.chain);
      }
      return first;
    };
    const refresh = (refreshToken: string, status = 200) =>
      token('/auth/v1/token?grant_type=refresh_token', { refresh_token: refreshToken }, status);

    it('after sign-ins, refreshes, a repeat, a reuse, a sign-out and imported GoTrue tokens', async () => {
      // A chain, a repeat inside the grace period (answered with the successor it had), a reuse after it.
      const first = await signIn();
      const second = await refresh(first);
      const third = await refresh(second);
      assert.equal(await refresh(second), third);
      t.advance((t.config.sessions.reuseGrace + 1) * 1000);
      await refresh(first, 400);
      await refresh(third, 400);
      // Another session, signed out by its refresh token (json-data-server's logout).
      const other = await refresh(await signIn());
      const out = await t.app.inject({
        method: 'POST',
        url: '/auth/logout',
        payload: { refresh_token: other },
      });
      assert.equal(out.statusCode, 204, out.body);
      await refresh(other, 400);
      // GoTrue's tokens, v1 and v2, taken over once each, and their successors refreshed.
      for (const imported of [made.v1.token, made.v2.token]) {
        const successor = await refresh(imported);
        assert.equal(await refresh(imported), successor);
        await refresh(successor);
      }
      // A token never issued, and one too long for any column, each refused.
      await refresh('x'.repeat(43), 400);

      // restauth's own sessions derive their successors under the server key (migration 28), so
      // their refreshes above ran in one statement, from hashes Node computed first.
      assert.deepEqual([...chains], [2]);

      const log = await cluster.log();
      assert.match(log, /FROM successor\) AS rotated,/u, 'the one-statement refresh is in the log');
      // The log does hold the statements (else this test proves nothing).
      assert.match(log, /refresh_tokens/u);
      assert.match(log, /parameters: \$1 = /u);
      const leaked = [...issued].filter((refreshToken) => log.includes(refreshToken));
      assert.deepEqual(leaked, [], 'refresh tokens restauth issued are in the statement log');
      // The attack itself: every word of the log taken as a token, derived with every session's
      // secret (the database's contents), never gives a token restauth issued. A server-key session's
      // successors take a key the database never holds, and the token they derive from is not in the
      // log either (its hash is). An imported GoTrue
      // token is in the log (GoTrue wrote v1 tokens raw, and they are looked up by their raw value),
      // so its first successor is derived under a server key the database never holds.
      for (const sessionId of [made.v1.sessionId, made.v2.sessionId]) {
        const { rows } = await pool.query<{ secret: string }>(
          'SELECT refresh_secret AS secret FROM restauth.session_secrets WHERE session_id = $1',
          [sessionId],
        );
        secrets.add(rows[0]!.secret);
      }
      assert.ok(log.includes(made.v1.token), 'the raw GoTrue token is in the log (else: a weaker test)');
      assert.equal(secrets.size, 4);
      const words = new Set(log.match(/[A-Za-z0-9_-]{12,}/gu));
      const derived = [...secrets].flatMap((secret) =>
        [...words].map((word) => deriveSecret(secret, word)).filter((token) => issued.has(token)),
      );
      assert.deepEqual(derived, [], 'a token restauth issued can be derived from the log and the database');
    });
  },
);
