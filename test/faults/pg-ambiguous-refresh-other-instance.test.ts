import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { hashSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import { PostgresStore, schemaNames } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { createPool } from '../../src/stores/postgres/pool.js';
import { namedUser } from '../support/named-user.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { testRoles, testStoreConfig } from '../support/postgres.js';
import { openServerKeySession, refreshSettings } from '../support/server-key-session.js';

const outcome = (answer: Promise<{ refreshToken: string }>) =>
  answer.then(
    (rotated) => rotated.refreshToken,
    (error: { code?: string }) => {
      if (error.code === undefined) throw error;
      return error.code;
    },
  );

/**
 * The ambiguous commit of pg-ambiguous-refresh-commit.test.ts, retried on another instance: instance
 * A's refresh commits, its connection dies before the answer (a synchronous standby that never comes,
 * the backend terminated while its commit waits for it), and the client, answered 503, never saw the
 * successor. It retries past the reuse grace and the load balancer sends it to instance B, sharing
 * the database. Only A remembered the unanswered rotation, in its memory: B judged the retry a stolen
 * token's reuse and ended the session, a user signed out by a database fault (as after a restart of
 * A). Now A records the rotation in the database once it answers again, if it committed, and B finds
 * the record and answers the successor, once.
 */
describe(
  'an unanswered refresh commit retried on another instance (PostgreSQL)',
  { skip: ownClusterUnavailable() ?? false, timeout: 120_000 },
  () => {
    let cluster: OwnCluster;
    let poolA: pg.Pool;
    let poolB: pg.Pool;
    let storeA: PostgresStore;
    let storeB: PostgresStore;
    /** Sessions opened in before(), each test taking its own. */
    const opened: { id: string; token: string }[] = [];
    // Every instance has the same configured secret, so the same keys.
    const keys = { imported: randomBytes(32), successors: randomBytes(32) };
    const on = (store: PostgresStore) => new SessionManager(store, refreshSettings, keys);
    const successorOf = (token: string) =>
      createHmac('sha256', keys.successors).update(token).digest('base64url');
    /** A retry once the outage is over, later than the reuse grace (a client backing off). */
    const pastGrace = (now: Date) => new Date(now.getTime() + (refreshSettings.reuseGrace + 20) * 1000);

    /** A statement as a superuser, on a connection of its own. */
    const asAdmin = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
      const admin = new pg.Client({ connectionString: cluster.url });
      admin.on('error', () => {});
      await admin.connect();
      try {
        return (await admin.query<R>(sql, params)).rows;
      } finally {
        await admin.end();
      }
    };

    /**
     * A poll's bound: what it waits for comes within a second or two even on a loaded machine, so a
     * poll still waiting after a minute fails naming what it waited for.
     */
    const pollUntil = (what: string) => {
      const deadline = Date.now() + 60_000;
      return () => {
        if (Date.now() > deadline) throw new Error(`still waiting after a minute: ${what}`);
      };
    };

    /** Commits of instance A's pool wait for a standby that never comes (settled: the DBA drops it). */
    const nameStandby = async (name: string | null) => {
      await asAdmin(
        name === null
          ? 'ALTER SYSTEM RESET synchronous_standby_names'
          : `ALTER SYSTEM SET synchronous_standby_names = '${name}'`,
      );
      await asAdmin('SELECT pg_reload_conf()');
      // A reload reaches each backend when the postmaster signals it: polled, as nothing says when.
      const bound = pollUntil(`synchronous_standby_names = '${name}' on instance A's connection`);
      while (name !== null) {
        bound();
        const { rows } = await poolA.query<{ names: string }>('SELECT current_setting($1) AS names', [
          'synchronous_standby_names',
        ]);
        if (rows[0]!.names === name) return;
      }
    };

    /** Terminates the backend whose commit waits for the standby, once there is one. */
    const terminateWaitingCommit = async () => {
      const bound = pollUntil('a backend waiting for the standby (SyncRep)');
      for (;;) {
        bound();
        const rows = await asAdmin<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
        );
        if (rows[0]) {
          await asAdmin('SELECT pg_terminate_backend($1)', [rows[0].pid]);
          return;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };

    /**
     * Until instance A has recorded `token`'s unanswered rotation (it writes once the database
     * answers again: a client's retry comes seconds later). A database without the record's table (a
     * store that keeps none) is not waited for: the retry then shows what it meets.
     */
    const recorded = async (token: string) => {
      const [table] = await asAdmin(
        `SELECT FROM pg_class WHERE oid = to_regclass('restauth.unanswered_refreshes')`,
      );
      if (!table) return;
      const bound = pollUntil('instance A recording the unanswered rotation');
      for (;;) {
        bound();
        const rows = await asAdmin('SELECT FROM restauth.unanswered_refreshes WHERE presented_hash = $1', [
          hashSecret(token),
        ]);
        if (rows.length === 1) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };

    const rotated = async (token: string) =>
      (
        await asAdmin<{ revoked: boolean }>('SELECT revoked FROM auth.refresh_tokens WHERE token = $1', [
          hashSecret(token),
        ])
      )[0]?.revoked;

    const live = async (id: string) =>
      (await asAdmin('SELECT FROM auth.sessions WHERE id = $1', [id])).length === 1;

    before(async () => {
      // Commits wait for the standby only where synchronous_commit is on: on for instance A only.
      cluster = await startOwnCluster({ settings: { synchronous_commit: 'local' } });
      const url = new URL(cluster.url);
      url.searchParams.set('options', '-c synchronous_commit=on');
      const configA = { ...testStoreConfig(url.toString()), poolMax: 1 };
      poolA = createPool(configA, { warn() {}, info() {} });
      // Instance B commits locally, so it is not held by the phantom standby.
      poolB = createPool({ ...testStoreConfig(cluster.url), poolMax: 1 }, { warn() {}, info() {} });
      const names = schemaNames(configA, testRoles);
      const setUp = new pg.Pool({ connectionString: cluster.url, max: 1 });
      try {
        await migrate(setUp, names);
        const setUpStore = new PostgresStore(setUp, names, { preparedStatements: true });
        const userId = (await setUpStore.createUser(namedUser('ambiguous-b'), null)).id;
        for (let i = 0; i < 2; i++) opened.push(await openServerKeySession(setUpStore, userId));
      } finally {
        await setUp.end();
      }
      storeA = new PostgresStore(poolA, names, { preparedStatements: true });
      storeB = new PostgresStore(poolB, names, { preparedStatements: true });
    });
    after(async () => {
      await poolA?.end();
      await poolB?.end();
      await cluster?.destroy();
    });

    it('the retry past the grace, on instance B, gets the successor once and the session lives', async () => {
      const session = opened[0]!;
      await nameStandby('phantom');
      const now = new Date();
      const answer = outcome(on(storeA).rotate(session.token, now));
      await terminateWaitingCommit();
      assert.equal(await answer, 'store_unavailable');
      await nameStandby(null);
      assert.equal(
        await rotated(session.token),
        true,
        'the rotation committed; the client never saw its successor',
      );
      await recorded(session.token);

      // The client backs off past the grace, and the load balancer sends its retry to instance B.
      const later = pastGrace(now);
      const retry = await outcome(on(storeB).rotate(session.token, later));
      assert.deepEqual(
        { retry, live: await live(session.id) },
        { retry: successorOf(session.token), live: true },
        'a database fault must not sign the user out',
      );
      // Once, on any instance: presented again (on A, which recorded it), it is a reuse past the grace.
      assert.equal(await outcome(on(storeA).rotate(session.token, later)), 'refresh_token_reused');
      assert.equal(await live(session.id), false);
    });

    it('a rotation that was answered gets no allowance on another instance', async () => {
      const session = opened[1]!;
      const now = new Date();
      assert.equal(await outcome(on(storeA).rotate(session.token, now)), successorOf(session.token));
      assert.equal(await outcome(on(storeB).rotate(session.token, pastGrace(now))), 'refresh_token_reused');
      assert.equal(await live(session.id), false);
    });
  },
);
