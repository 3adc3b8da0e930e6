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
    await app.services.idle();
    // Other clients take every slot, the superusers' reserved ones too, and the app's pool holds none,
    // so the next request must open one. Background work (a mail pass, the schema watch) may open one
    // between the two: its backend is ended too, and the slot it frees taken, until the pool stays empty.
    const { pool } = app.services.store as unknown as { pool: pg.Pool };
    do {
      const emptied = poolEmptied(app);
      const admin = hogs[0] ?? new pg.Client({ connectionString: cluster.url, application_name: HOG });
      if (!hogs.includes(admin)) await admin.connect();
      try {
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND backend_type = 'client backend'
              AND pid <> pg_backend_pid() AND application_name <> $1`,
          [HOG],
        );
      } finally {
        if (!hogs.includes(admin)) await admin.end();
      }
      await emptied;
      await takeEverySlot(cluster.url, hogs);
    } while (pool.totalCount > 0);

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

/** The application name of the test's own connections, which hold the slots. */
const HOG = 'restauth-test-hog';

/** Opens connections into `hogs` until the server refuses one for want of a slot (53300). */
async function takeEverySlot(url: string, hogs: pg.Client[]): Promise<void> {
  for (;;) {
    const hog = new pg.Client({ connectionString: url, application_name: HOG });
    hog.on('error', () => {});
    try {
      await hog.connect();
      hogs.push(hog);
    } catch (error) {
      assert.equal((error as { code?: string }).code, '53300', String(error));
      return;
    }
  }
}
