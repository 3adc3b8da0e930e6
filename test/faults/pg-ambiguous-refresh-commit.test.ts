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
    (error: { code?: string; cause?: unknown }) => {
      if (error.code === undefined) throw error;
      return error.code;
    },
  );

/**
 * The ambiguous commit: a refresh batch's connection dies after its COMMIT was written, before its
 * answer came back. Caused for real: the cluster names a synchronous standby that never connects, so
 * every commit, once durable locally, waits for it (wait event SyncRep); the backend is terminated
 * there, and PostgreSQL ends the connection without an answer ("The transaction has already committed
 * locally"). Each client got a 503 and never saw its successor. Retrying after the outage, past the
 * reuse grace (a client backing off for longer than 10 s), its token was found rotated and the
 * session revoked as a stolen token's: a user signed out by a database fault. Now the store remembers
 * the refreshes it could not answer, and a retry of one finds its own rotation and gets its successor.
 */
describe(
  'a refresh batch whose commit is not answered (PostgreSQL)',
  { skip: ownClusterUnavailable() ?? false, timeout: 120_000 },
  () => {
    let cluster: OwnCluster;
    let admin: pg.Client;
    let pool: pg.Pool;
    let store: PostgresStore;
    /** A pool whose commits do not wait for the standby, for the set-up. */
    let setUp: pg.Pool;
    let setUpStore: PostgresStore;
    let userId: string;
    const keys = { imported: randomBytes(32), successors: randomBytes(32) };
    const sessions = () => new SessionManager(store, refreshSettings, keys);
    const successorOf = (token: string) =>
      createHmac('sha256', keys.successors).update(token).digest('base64url');
    const warnings: string[] = [];

    before(async () => {
      // Commits wait for the standby only where synchronous_commit is on: set up locally, test with it
      // on. The standby is named by ALTER SYSTEM (a -c option could not be reset at run time).
      cluster = await startOwnCluster({ settings: { synchronous_commit: 'local' } });
      admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      await admin.query(`ALTER SYSTEM SET synchronous_standby_names = 'phantom'`);
      await admin.query('SELECT pg_reload_conf()');
      const url = new URL(cluster.url);
      url.searchParams.set('options', '-c synchronous_commit=on');
      const config = { ...testStoreConfig(url.toString()), poolMax: 4 };
      pool = createPool(config, { warn: (message) => warnings.push(message), info() {} });
      const names = schemaNames(config, testRoles);
      setUp = new pg.Pool({ connectionString: cluster.url, max: 1 });
      await migrate(setUp, names);
      setUpStore = new PostgresStore(setUp, names, { preparedStatements: true });
      userId = (await setUpStore.createUser(namedUser('ambiguous'), null)).id;
      store = new PostgresStore(pool, names, { preparedStatements: true });
    });
    after(async () => {
      await pool?.end();
      await setUp?.end();
      await admin?.end();
      await cluster?.destroy();
    });

    /** Resolves with the pid of the backend waiting for the standby once there is one. */
    const waitingForStandby = async (): Promise<number> => {
      for (;;) {
        const { rows } = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
        );
        if (rows[0]) return rows[0].pid;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };

    it('answers a retry past the reuse grace with the successor, and revokes no session', async () => {
      const opened = [];
      for (let i = 0; i < 2; i++) opened.push(await openServerKeySession(setUpStore, userId));
      const now = new Date();
      // Two refreshes in one turn: one batch, one statement, one commit.
      const answers = opened.map((session) => outcome(sessions().rotate(session.token, now)));
      const pid = await waitingForStandby();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      assert.deepEqual(await Promise.all(answers), ['store_unavailable', 'store_unavailable']);
      // The batch committed: each token is rotated, its successor stored.
      const { rows } = await admin.query<{ token: string; revoked: boolean }>(
        'SELECT token, revoked FROM auth.refresh_tokens WHERE token = ANY($1) ORDER BY token',
        [opened.map((session) => hashSecret(session.token))],
      );
      assert.deepEqual(
        rows.map((row) => row.revoked),
        [true, true],
      );
      // The standby question is settled (the DBA drops it); the clients retry once the outage is over,
      // later than the reuse grace.
      await admin.query(`ALTER SYSTEM RESET synchronous_standby_names`);
      await admin.query('SELECT pg_reload_conf()');
      const later = new Date(now.getTime() + (refreshSettings.reuseGrace + 20) * 1000);
      for (const session of opened) {
        assert.equal(await outcome(sessions().rotate(session.token, later)), successorOf(session.token));
      }
      const { rows: live } = await admin.query<{ ended: number }>(
        `SELECT count(*)::int AS ended FROM auth.sessions WHERE id = ANY($1::uuid[])`,
        [opened.map((session) => session.id)],
      );
      assert.equal(live[0]!.ended, 2, 'both sessions live');
      // The successor refreshes as usual.
      const next = await outcome(sessions().rotate(successorOf(opened[0]!.token), later));
      assert.equal(next, successorOf(successorOf(opened[0]!.token)));
      // Only once: presented again, the token is judged as before, a reuse past the grace.
      assert.equal(await outcome(sessions().rotate(opened[1]!.token, later)), 'refresh_token_reused');
    });
  },
);
