import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { openPostgresPool } from '../../src/stores/postgres/index.js';
import { faultAppConfig, poolEmptied, signUp } from '../support/postgres-faults.js';
import { testRoles, testStoreConfig } from '../support/postgres.js';

/**
 * Every connection slot of the server taken (max_connections reached by
 * other clients: a leaking job, a connection storm): restauth's new
 * connections are refused with 53300 ("sorry, too many clients already").
 * Requests that need one answer 503 with Retry-After, the process lives, and
 * they succeed again once slots are free.
 */
describe('PostgreSQL out of connection slots', { skip: ownClusterUnavailable() ?? false }, () => {
  let cluster: OwnCluster;
  let app: TestApp;
  const hogs: pg.Client[] = [];

  before(async () => {
    cluster = await startOwnCluster({ maxConnections: 8 });
    app = await createTestApp({
      format: 'restauth',
      config: faultAppConfig(cluster.url, 2),
    });
  });
  after(async () => {
    await Promise.all(hogs.map((hog) => hog.end().catch(() => {})));
    await app?.close();
    await cluster?.destroy();
  });

  it('answers 503 with Retry-After while no slot is free, and serves once one is', async () => {
    assert.equal((await signUp(app, 'before@acme.test')).statusCode, 200);
    // The pool loses its connections (terminated), so the next request must open one.
    const emptied = poolEmptied(app);
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      );
    } finally {
      await admin.end();
    }
    await emptied;
    // Other clients take every slot, the superusers' reserved ones too, until the server refuses one.
    for (;;) {
      const hog = new pg.Client({ connectionString: cluster.url });
      hog.on('error', () => {});
      try {
        await hog.connect();
        hogs.push(hog);
      } catch (error) {
        assert.equal((error as { code?: string }).code, '53300', String(error));
        break;
      }
    }

    const during = await signUp(app, 'during@acme.test');
    assert.equal(during.statusCode, 503, during.body);
    assert.ok(during.headers['retry-after']);
    assert.equal(during.json().error_code, 'store_unavailable');
    // A start meanwhile fails naming the cause and what mends it, where it said "start it".
    await assert.rejects(
      openPostgresPool({ ...testStoreConfig(cluster.url), startupTimeout: 0 }, testRoles, {
        logger: { info() {}, warn() {} },
      }),
      (error: Error) => {
        assert.match(
          error.message,
          /had no free connection slot for 0 s \(sorry, too many clients already\): other clients hold all of its max_connections; .*store\.poolMax/u,
        );
        assert.doesNotMatch(error.message, /start it/u);
        return true;
      },
    );

    await Promise.all(hogs.splice(0).map((hog) => hog.end()));
    const after = await signUp(app, 'during@acme.test');
    assert.equal(after.statusCode, 200, after.body);
  });
});
