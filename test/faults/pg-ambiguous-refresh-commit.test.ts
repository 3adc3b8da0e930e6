import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { deriveSecret, hashSecret, randomSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import { PostgresStore, schemaNames } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { createPool } from '../../src/stores/postgres/pool.js';
import { namedUser } from '../support/named-user.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { testRoles, testStoreConfig } from '../support/postgres.js';
import { openServerKeySession, refreshSettings } from '../support/server-key-session.js';
import { insertSessionFromBefore } from '../support/sessions-before.js';

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
 * The same holds where core derives the successor and the store only writes it (rotateRefreshToken,
 * redeemImportedRefreshToken): a session from before migration 28 (chain 1, every converted GoTrue
 * session) and a GoTrue-made token, whose retry was still judged a reuse past the grace.
 */
describe(
  'a refresh batch whose commit is not answered (PostgreSQL)',
  { skip: ownClusterUnavailable() ?? false, timeout: 120_000 },
  () => {
    let cluster: OwnCluster;
    let pool: pg.Pool;
    let store: PostgresStore;
    let userId: string;
    /** Sessions opened in before(), each test taking its own. */
    const opened: { id: string; token: string }[] = [];
    const keys = { imported: randomBytes(32), successors: randomBytes(32) };
    const sessions = () => new SessionManager(store, refreshSettings, keys);
    const successorOf = (token: string) =>
      createHmac('sha256', keys.successors).update(token).digest('base64url');
    /** A retry once the outage is over, later than the reuse grace (a client backing off). */
    const pastGrace = (now: Date) => new Date(now.getTime() + (refreshSettings.reuseGrace + 20) * 1000);

    /** A statement as a superuser, on a connection of its own (a restart ends any kept one). */
    const asAdmin = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
      const admin = new pg.Client({ connectionString: cluster.url });
      // A crash's restart resets a connection as it is made: the promise below rejects with that, and
      // the client's 'error' event, unheard, would end the test process.
      admin.on('error', () => {});
      await admin.connect();
      try {
        return (await admin.query<R>(sql, params)).rows;
      } finally {
        await admin.end();
      }
    };

    /** Commits of restauth's pool wait for a standby that never comes (settled: the DBA drops it). */
    const nameStandby = async (name: string | null, reload = true) => {
      await asAdmin(
        name === null
          ? 'ALTER SYSTEM RESET synchronous_standby_names'
          : `ALTER SYSTEM SET synchronous_standby_names = '${name}'`,
      );
      if (!reload) return;
      await asAdmin('SELECT pg_reload_conf()');
      // A reload reaches each backend when the postmaster gets to signal it: until restauth's own
      // connection reads the standby's name, its commits would not wait. Polled: nothing signals it.
      while (name !== null) {
        const { rows } = await pool.query<{ names: string }>('SELECT current_setting($1) AS names', [
          'synchronous_standby_names',
        ]);
        if (rows[0]!.names === name) return;
      }
    };

    before(async () => {
      // Commits wait for the standby only where synchronous_commit is on: set up locally, test with it
      // on. The standby is named by ALTER SYSTEM (a -c option could not be reset at run time).
      cluster = await startOwnCluster({ settings: { synchronous_commit: 'local' } });
      const url = new URL(cluster.url);
      url.searchParams.set('options', '-c synchronous_commit=on');
      // One connection: a refresh asked for while the batch waits, waits for the pool.
      const config = { ...testStoreConfig(url.toString()), poolMax: 1 };
      pool = createPool(config, { warn() {}, info() {} });
      const names = schemaNames(config, testRoles);
      const setUp = new pg.Pool({ connectionString: cluster.url, max: 1 });
      try {
        await migrate(setUp, names);
        const setUpStore = new PostgresStore(setUp, names, { preparedStatements: true });
        userId = (await setUpStore.createUser(namedUser('ambiguous'), null)).id;
        for (let i = 0; i < 8; i++) opened.push(await openServerKeySession(setUpStore, userId));
      } finally {
        await setUp.end();
      }
      store = new PostgresStore(pool, names, { preparedStatements: true });
    });
    after(async () => {
      await pool?.end();
      await cluster?.destroy();
    });

    /**
     * A poll's bound: what it waits for comes within a second or two even on a loaded machine, so a
     * poll still waiting after a minute fails naming what it waited for, rather than as the file's
     * timeout with no word of where.
     */
    const pollUntil = (what: string) => {
      const deadline = Date.now() + 60_000;
      return () => {
        if (Date.now() > deadline) throw new Error(`still waiting after a minute: ${what}`);
      };
    };

    /** Resolves with the pid of the backend waiting for the standby once there is one. */
    const waitingForStandby = async (): Promise<number> => {
      const bound = pollUntil('a backend waiting for the standby (SyncRep)');
      for (;;) {
        bound();
        const rows = await asAdmin<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
        );
        if (rows[0]) return rows[0].pid;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };

    /** How often the server's log says it is ready to accept connections (a start, a crash's end). */
    const readyLines = async () =>
      (await cluster.log()).split('\n').filter((line) => line.includes('ready to accept connections')).length;

    /** Whether each token is rotated (revoked, its successor stored), in the order given. */
    const rotated = async (tokens: string[]) => {
      const rows = await asAdmin<{ token: string; revoked: boolean }>(
        'SELECT token, revoked FROM auth.refresh_tokens WHERE token = ANY($1)',
        [tokens.map(hashSecret)],
      );
      return tokens.map((token) => rows.find((row) => row.token === hashSecret(token))?.revoked);
    };

    /** How many of the sessions are still live. */
    const live = async (ids: string[]) =>
      (
        await asAdmin<{ n: number }>(
          'SELECT count(*)::int AS n FROM auth.sessions WHERE id = ANY($1::uuid[])',
          [ids],
        )
      )[0]!.n;

    it('answers a retry past the reuse grace with the successor, and revokes no session', async () => {
      const batch = opened.slice(0, 2);
      await nameStandby('phantom');
      const now = new Date();
      // Two refreshes in one turn: one batch, one statement, one commit.
      const answers = batch.map((session) => outcome(sessions().rotate(session.token, now)));
      await asAdmin('SELECT pg_terminate_backend($1)', [await waitingForStandby()]);
      assert.deepEqual(await Promise.all(answers), ['store_unavailable', 'store_unavailable']);
      // The batch committed: each token is rotated, its successor stored.
      assert.deepEqual(await rotated(batch.map((session) => session.token)), [true, true]);
      await nameStandby(null);
      const later = pastGrace(now);
      for (const session of batch) {
        assert.equal(await outcome(sessions().rotate(session.token, later)), successorOf(session.token));
      }
      assert.equal(await live(batch.map((session) => session.id)), 2);
      // The successor refreshes as usual.
      const next = await outcome(sessions().rotate(successorOf(batch[0]!.token), later));
      assert.equal(next, successorOf(successorOf(batch[0]!.token)));
      // Only once: presented again, the token is judged as before, a reuse past the grace.
      assert.equal(await outcome(sessions().rotate(batch[1]!.token, later)), 'refresh_token_reused');
    });

    /**
     * Refreshes `token` with the standby named, so that its write's COMMIT waits, terminates that
     * backend, and retries past the grace: the retry's answer, and a second presentation's.
     */
    const unansweredThenRetried = async (token: string, write: RegExp, storedAs: string) => {
      await nameStandby('phantom');
      const now = new Date();
      const answer = outcome(sessions().rotate(token, now));
      // The statements before the write (the one-statement refresh locks the rows it finds, so its
      // commit waits too) are let go: a cancelled wait for the standby answers as committed.
      const bound = pollUntil(`the write ${write} waiting for the standby`);
      for (;;) {
        bound();
        const [waiting] = await asAdmin<{ pid: number; query: string }>(
          `SELECT pid, query FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
        );
        if (!waiting) {
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        if (write.test(waiting.query)) {
          await asAdmin('SELECT pg_terminate_backend($1)', [waiting.pid]);
          break;
        }
        await asAdmin('SELECT pg_cancel_backend($1)', [waiting.pid]);
        // Until it has left that wait: a second cancel must not reach the write's.
        const left = pollUntil(`backend ${waiting.pid} leaving its wait for the standby`);
        for (;;) {
          left();
          const still = await asAdmin(
            `SELECT FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'SyncRep' AND query = $2`,
            [waiting.pid, waiting.query],
          );
          if (still.length === 0) break;
        }
      }
      assert.equal(await answer, 'store_unavailable');
      await nameStandby(null);
      const [{ revoked } = { revoked: null }] = await asAdmin<{ revoked: boolean }>(
        'SELECT revoked FROM auth.refresh_tokens WHERE token = $1',
        [storedAs],
      );
      assert.equal(revoked, true, 'the write committed: the token is spent');
      const later = pastGrace(now);
      return {
        retry: await outcome(sessions().rotate(token, later)),
        again: () => outcome(sessions().rotate(token, later)),
      };
    };
    const secretOf = async (sessionId: string) =>
      (
        await asAdmin<{ secret: string }>(
          'SELECT refresh_secret AS secret FROM restauth.session_secrets WHERE session_id = $1',
          [sessionId],
        )
      )[0]!.secret;

    it('a session from before migration 28 (chain 1): the retry past the grace gets its successor', async () => {
      const session = { id: randomUUID(), secret: randomSecret(), token: randomSecret() };
      await insertSessionFromBefore(pool, {
        id: session.id,
        userId,
        notAfter: new Date(Date.now() + 86_400_000),
        secret: session.secret,
        firstTokenHash: hashSecret(session.token),
      });
      // rotateRefreshToken's statement.
      const { retry, again } = await unansweredThenRetried(
        session.token,
        /^WITH live AS/u,
        hashSecret(session.token),
      );
      assert.equal(retry, deriveSecret(session.secret, session.token));
      assert.equal(await live([session.id]), 1);
      // Only once: presented again, the token is judged as before, a reuse past the grace.
      assert.equal(await again(), 'refresh_token_reused');
    });

    it('a GoTrue-made token: the retry of its redemption past the grace gets its successor', async () => {
      const sessionId = randomUUID();
      // GoTrue's v1 token: 12 base32 characters, kept raw (gotrue-tokens.ts).
      const token = 'retryunanswe';
      await asAdmin(
        `WITH s AS (
           INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at)
           VALUES ($1, $2, now(), now(), 'aal1', now() AT TIME ZONE 'UTC') RETURNING id
         )
         INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, session_id, created_at, updated_at)
         SELECT '00000000-0000-0000-0000-000000000000', $3, $2::text, false, id, now(), now() FROM s`,
        [sessionId, userId, token],
      );
      // redeemGoTrueRefreshToken's statement.
      const { retry, again } = await unansweredThenRetried(token, /^WITH spent AS/u, token);
      const imported = createHmac('sha256', keys.imported).update(token).digest('base64url');
      assert.equal(retry, deriveSecret(await secretOf(sessionId), imported));
      assert.equal(await live([sessionId]), 1);
      assert.equal(await again(), 'refresh_token_reused');
    });

    it('a fast restart while a batch commits and another refresh waits for the pool: each retry gets its successor', async () => {
      const batch = opened.slice(2, 4);
      const queued = opened[4]!;
      await nameStandby('phantom');
      const now = new Date();
      const answers = batch.map((session) => outcome(sessions().rotate(session.token, now)));
      await waitingForStandby();
      // Asked for after the batch was sent: it waits for the pool's one connection, the batch's.
      const queuedAnswer = outcome(sessions().rotate(queued.token, now));
      while (pool.waitingCount === 0) await new Promise((resolve) => setImmediate(resolve));
      // Restarted without the standby (its setting read at the start), as after a failover's repair.
      await nameStandby(null, false);
      await cluster.stop('fast');
      assert.deepEqual(await Promise.all([...answers, queuedAnswer]), [
        'store_unavailable',
        'store_unavailable',
        'store_unavailable',
      ]);
      const later = pastGrace(now);
      // A retry while the server is down: a 503 again, which forgets nothing.
      assert.equal(await outcome(sessions().rotate(batch[0]!.token, later)), 'store_unavailable');
      await cluster.start();
      assert.deepEqual(await rotated([...batch, queued].map((session) => session.token)), [
        true,
        true,
        false,
      ]);
      for (const session of [...batch, queued]) {
        assert.equal(await outcome(sessions().rotate(session.token, later)), successorOf(session.token));
      }
      assert.equal(await live([...batch, queued].map((session) => session.id)), 3);
    });

    // Last: the crash restarts every backend of the cluster.
    it('a backend killed (SIGKILL) while its batch commits and a refresh waits for the pool: no hang, each retry gets its successor', async () => {
      const batch = opened.slice(5, 7);
      const queued = opened[7]!;
      await nameStandby('phantom');
      const now = new Date();
      const answers = batch.map((session) => outcome(sessions().rotate(session.token, now)));
      const pid = await waitingForStandby();
      const queuedAnswer = outcome(sessions().rotate(queued.token, now));
      const queuing = pollUntil('the third refresh waiting for the pool');
      while (pool.waitingCount === 0) {
        queuing();
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Not named after the crash: the postmaster keeps its settings through the restart of its
      // backends, until the reload below.
      await nameStandby(null, false);
      const readyBefore = await readyLines();
      process.kill(pid, 'SIGKILL');
      assert.deepEqual(await Promise.all(answers), ['store_unavailable', 'store_unavailable']);
      // The postmaster ends every backend and recovers. A connection made before it noticed the
      // crash still answers, so the end of the recovery is read from its log, which says it: polled,
      // as nothing else signals it.
      const bound = pollUntil('the server ready again after the crash');
      while ((await readyLines()) === readyBefore) {
        bound();
        await new Promise((resolve) => setImmediate(resolve));
      }
      await asAdmin('SELECT pg_reload_conf()');
      // The queued refresh met the recovery (503), or ran after it, its commit released by the reload.
      const queuedFirst = await queuedAnswer;
      assert.ok(
        queuedFirst === 'store_unavailable' || queuedFirst === successorOf(queued.token),
        queuedFirst,
      );
      assert.deepEqual(await rotated(batch.map((session) => session.token)), [true, true]);
      const later = pastGrace(now);
      for (const session of batch) {
        assert.equal(await outcome(sessions().rotate(session.token, later)), successorOf(session.token));
      }
      if (queuedFirst === 'store_unavailable')
        assert.equal(await outcome(sessions().rotate(queued.token, later)), successorOf(queued.token));
      assert.equal(await live([...batch, queued].map((session) => session.id)), 3);
    });
  },
);
