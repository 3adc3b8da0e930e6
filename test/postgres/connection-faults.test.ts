import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { inTransaction } from '../../src/stores/postgres/pool.js';
import { postgresReadiness } from '../../src/stores/postgres/readiness.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { testRoles, testStoreConfig } from '../support/postgres.js';

/**
 * The database goes away under a running app (issue 11.1, 11.2): the
 * process must live, answer 503 with Retry-After in each dialect's shape,
 * log the outage once, and serve again once the database is back.
 */
describe('PostgreSQL going away under a running app', { skip: ownClusterUnavailable() ?? false }, () => {
  let cluster: OwnCluster;
  let app: TestApp;
  const log: string[] = [];
  /** The error each warning was logged with, if any. */
  const causes = new Map<string, unknown>();

  before(async () => {
    cluster = await startOwnCluster();
    app = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(cluster.url),
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: {} },
      },
      logger: {
        info: (line) => log.push(line),
        warn: (line, error?: unknown) => {
          log.push(line);
          if (error !== undefined) causes.set(line, error);
        },
      },
    });
  });
  after(async () => {
    await app?.close();
    await cluster?.destroy();
  });

  const terminateBackend = async (pid: number) => {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
  };

  // Not events.once: it listens for 'error' too, which would be the very guard under test.
  const connectionEnd = (client: pg.PoolClient) =>
    new Promise<void>((resolve) => client.once('end', resolve));

  it('is not ready on a database whose migrations are not applied', async () => {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('CREATE DATABASE unmigrated');
    await admin.end();
    const pool = new pg.Pool({ connectionString: cluster.url.replace(/\/postgres$/u, '/unmigrated') });
    try {
      const report = await postgresReadiness(pool, schemaNames(testStoreConfig(cluster.url), testRoles));
      assert.equal(report.ready, false);
      assert.equal(report.checks['database'], 'ok');
      assert.match(report.checks['migrations']!, /^pending: 1, 2, /u);
    } finally {
      await pool.end();
    }
  });

  it('a checked-out connection the server terminates does not end the process', async () => {
    const { pool } = app.services.store as unknown as { pool: pg.Pool };
    // Held as any caller of pool.connect() holds it, with no listener of its own: pg-pool removed its
    // listener at check-out, so without the pool's guard the 57P01 'error' event would be unhandled.
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const ended = connectionEnd(client);
    await terminateBackend(rows[0]!.pid);
    await ended;
    client.release(new Error('terminated'));
  });

  it('a transaction whose connection dies rejects with the 503, not with the ROLLBACK failure', async () => {
    const { pool } = app.services.store as unknown as { pool: pg.Pool };
    const attempt = inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const ended = connectionEnd(client);
      await terminateBackend(rows[0]!.pid);
      await ended;
      await client.query('SELECT 1');
    });
    await assert.rejects(attempt, (error: Error & { code?: string; cause?: Error }) => {
      assert.equal(error.code, 'store_unavailable');
      assert.match(error.cause!.message, /not queryable|terminat/u);
      return true;
    });
    // The pool replaced the dead connection: the next transaction works.
    assert.equal(
      await inTransaction(pool, async (client) => (await client.query('SELECT 1 AS one')).rows[0].one),
      1,
    );
  });

  it('while the database is stopped, each dialect answers 503 with Retry-After, logged once', async () => {
    const ok = await app.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'before@example.com', password: 'a passphrase' },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    log.length = 0;
    await cluster.stop('fast');
    try {
      const gotrue = await app.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 'during@example.com', password: 'a passphrase' },
      });
      assert.equal(gotrue.statusCode, 503, gotrue.body);
      assert.equal(gotrue.headers['retry-after'], '5');
      // GoTrue names the request of a 5xx (error_id), so that a user's report finds its log line.
      const { error_id: errorId, ...body } = gotrue.json<Record<string, unknown>>();
      assert.deepEqual(body, {
        code: 503,
        error_code: 'store_unavailable',
        msg: 'The server cannot reach its database; retry shortly',
      });
      assert.match(String(errorId), /^req-/u);
      const postgrestAuth = await app.app.inject({
        method: 'POST',
        url: '/auth/users',
        payload: { username: 'during', password: 'a passphrase', email: 'during2@example.com' },
      });
      assert.equal(postgrestAuth.statusCode, 503, postgrestAuth.body);
      assert.equal(postgrestAuth.headers['retry-after'], '5');
      assert.equal(postgrestAuth.json().error, 'store_unavailable');
      for (let i = 0; i < 5; i++) {
        const jsonDataServer = await app.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { username: 'before@example.com', password: 'a passphrase' },
        });
        assert.equal(jsonDataServer.statusCode, 503, jsonDataServer.body);
        assert.equal(jsonDataServer.headers['retry-after'], '5');
        assert.equal(jsonDataServer.body, 'The server cannot reach its database; retry shortly');
      }
      // Liveness stays up; readiness and GoTrue's health say the truth.
      assert.equal((await app.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
      const ready = await app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 503, ready.body);
      assert.equal(ready.headers['retry-after'], '5');
      assert.deepEqual(ready.json(), {
        status: 'unavailable',
        checks: { database: 'unreachable', migrations: 'unknown' },
      });
      const health = await app.app.inject({ method: 'GET', url: '/auth/v1/health' });
      assert.equal(health.statusCode, 503, health.body);
      assert.equal(health.headers['retry-after'], '5');
      assert.equal(health.json().error_code, 'service_unavailable');
      const lines = log.filter((line) => /is unavailable/u.test(line));
      assert.equal(lines.length, 1, log.join('\n'));
      assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${cluster.port}/postgres`, 'u'));
      // Logged with the driver's error itself, so its code and stack reach the log, not only its message.
      assert.ok(causes.get(lines[0]!) instanceof Error, 'the outage line carries its error');
    } finally {
      await cluster.start();
    }
    const again = await app.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'after@example.com', password: 'a passphrase' },
    });
    assert.equal(again.statusCode, 200, again.body);
    const ready = await app.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.deepEqual(ready.json(), { status: 'ready', checks: { database: 'ok', migrations: 'ok' } });
    assert.equal((await app.app.inject({ method: 'GET', url: '/auth/v1/health' })).statusCode, 200);
    assert.equal(log.filter((line) => /reachable again/u.test(line)).length, 1, log.join('\n'));
  });
});
