import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { hashSecret, randomSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import { PostgresStore } from '../../src/stores/postgres/index.js';
import { realServerOnly } from '../support/postgres.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { countRoundTrips } from '../support/round-trips.js';
import { openServerKeySession, refreshSettings } from '../support/server-key-session.js';
import { namedUser } from '../support/named-user.js';
import { useTestDatabase } from '../support/test-database.js';

const code = (answer: Promise<unknown>) =>
  answer.then(
    () => 'ok',
    (error: { code?: string }) => error.code ?? String(error),
  );

/**
 * Refreshes asked for in the same turn of the event loop (concurrent clients' requests) are found,
 * judged and rotated by one statement, one transaction (RefreshBatcher), each answered as it would
 * be alone.
 */
describe(
  'refreshes asked for at once, in one statement (PostgreSQL)',
  { skip: realServerOnly() ?? false },
  () => {
    const database = useTestDatabase();
    let userId: string;
    const keys = { imported: randomBytes(32), successors: randomBytes(32) };
    const sessions = () => new SessionManager(database.store, refreshSettings, keys);
    const successorOf = (token: string) =>
      createHmac('sha256', keys.successors).update(token).digest('base64url');
    const open = (now = new Date()) => openServerKeySession(database.store, userId, now);
    const openMany = async (count: number) => {
      const opened = [];
      for (let i = 0; i < count; i++) opened.push(await open());
      return opened;
    };

    before(async () => {
      const user = await database.store.createUser(namedUser('batched'), null);
      userId = user.id;
    });

    it('rotates eight sessions refreshed at once in one statement, each to its own successor', async () => {
      const opened = await openMany(8);
      const now = new Date();
      const trips = await countRoundTrips(database.url, () =>
        Promise.all(opened.map((session) => sessions().rotate(session.token, now))),
      );
      assert.equal(trips.count, 1, `one statement, sent: ${trips.statements.join(' | ')}`);
      for (const [index, session] of opened.entries()) {
        const answer = trips.answer[index]!;
        assert.equal(answer.refreshToken, successorOf(session.token));
        assert.equal(answer.session.id, session.id);
        assert.equal(answer.user?.id, userId);
        const { rows } = await database.pool.query(
          `SELECT t.token, t.revoked, t.parent, s.refreshed_at AT TIME ZONE 'UTC' AS refreshed_at
         FROM auth.refresh_tokens t JOIN auth.sessions s ON s.id = t.session_id
         WHERE t.session_id = $1 ORDER BY t.id`,
          [session.id],
        );
        assert.deepEqual(rows, [
          { token: hashSecret(session.token), revoked: true, parent: null, refreshed_at: now },
          {
            token: hashSecret(answer.refreshToken),
            revoked: false,
            parent: hashSecret(session.token),
            refreshed_at: now,
          },
        ]);
      }
    });

    it('answers each entry as alone: a repeat, a reuse, an idle session, an unknown token, a fresh one', async () => {
      const now = new Date();
      const graceAgo = new Date(now.getTime() - (refreshSettings.reuseGrace + 1) * 1000);
      const [repeated, reused, fresh] = await openMany(3);
      const live = (await sessions().rotate(repeated!.token, now)).refreshToken;
      await sessions().rotate(reused!.token, graceAgo);
      const idle = await open(new Date(now.getTime() - (refreshSettings.inactivityTimeout + 1) * 1000));
      const answers = await Promise.all(
        [repeated!.token, reused!.token, idle.token, randomSecret(), fresh!.token].map((token) =>
          sessions()
            .rotate(token, now)
            .then(
              (answer) => answer.refreshToken,
              (error: { code: string }) => error.code,
            ),
        ),
      );
      assert.deepEqual(answers, [
        live,
        'refresh_token_reused',
        'session_expired',
        'refresh_token_not_found',
        successorOf(fresh!.token),
      ]);
      assert.equal((await database.store.findSession(reused!.id))?.revokedReason, 'refresh_token_reused');
      assert.equal((await database.store.findSession(idle.id))?.revokedReason, 'inactivity_timeout');
      assert.equal((await database.store.findSession(repeated!.id))?.revokedAt, null);
    });

    it('rotates nothing of a user with a verified MFA factor, and the rest as alone', async () => {
      const guarded = await database.store.createUser(namedUser('batched-mfa'), null);
      const [plain] = await openMany(1);
      const mfa = await openServerKeySession(database.store, guarded.id, new Date());
      // Verified with the trigger bypassed (a replica's apply): the session stays, only the refresh
      // statement's own check stands between it and a fresh session.
      const client = await database.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SET LOCAL session_replication_role = replica');
        await client.query(
          `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at)
           VALUES (gen_random_uuid(), $1, 'phone app', 'totp', 'verified', now(), now())`,
          [guarded.id],
        );
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const now = new Date();
      const trips = await countRoundTrips(database.url, () =>
        Promise.all([code(sessions().rotate(mfa.token, now)), code(sessions().rotate(plain!.token, now))]),
      );
      assert.deepEqual(trips.answer, ['insufficient_aal', 'ok']);
      assert.equal(trips.count, 1, `one statement, sent: ${trips.statements.join(' | ')}`);
      const { rows } = await database.pool.query(
        'SELECT count(*)::int AS tokens FROM auth.refresh_tokens WHERE session_id = $1',
        [mfa.id],
      );
      assert.equal(rows[0].tokens, 1, 'no successor for the guarded session');
    });

    it('rotates nothing of a banned user, batched or alone, without a round trip more', async () => {
      const banned = await database.store.createUser(namedUser('batched-banned'), null);
      const [plain] = await openMany(1);
      const session = await openServerKeySession(database.store, banned.id, new Date());
      const now = new Date();
      await database.store.updateUser(banned.id, { bannedUntil: new Date(now.getTime() + 3600_000) });
      const batched = await countRoundTrips(database.url, () =>
        Promise.all([
          code(sessions().rotate(session.token, now)),
          code(sessions().rotate(plain!.token, now)),
        ]),
      );
      assert.deepEqual(batched.answer, ['user_banned', 'ok']);
      assert.equal(batched.count, 1, `one statement, sent: ${batched.statements.join(' | ')}`);
      const alone = await countRoundTrips(database.url, () => code(sessions().rotate(session.token, now)));
      assert.equal(alone.answer, 'user_banned');
      assert.equal(alone.count, 1, `one statement, sent: ${alone.statements.join(' | ')}`);
      const { rows } = await database.pool.query(
        'SELECT revoked, refreshed_at FROM auth.refresh_tokens t JOIN auth.sessions s ON s.id = t.session_id WHERE s.id = $1',
        [session.id],
      );
      assert.equal(rows.length, 1, 'no successor for the banned session');
      assert.equal(rows[0].revoked, false, 'the presented token is not spent');
      // Once the ban has passed, the very token refreshes.
      const later = new Date(now.getTime() + 3601_000);
      assert.equal((await sessions().rotate(session.token, later)).refreshToken, successorOf(session.token));
    });

    it('leaves a session another transaction holds to a statement of its own and answers the rest meanwhile', async () => {
      const opened = await openMany(3);
      const holder = await database.pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM auth.sessions WHERE id = $1 FOR UPDATE', [opened[0]!.id]);
        const now = new Date();
        const answers = opened.map((session) => sessions().rotate(session.token, now));
        // Without SKIP LOCKED the batch waits for the held session with the others locked, and a
        // statement waits for a lock before they are answered.
        const waiting = lockWaiters(database.pool, 1);
        const first = await Promise.race([Promise.all(answers.slice(1)), waiting.then(() => 'waited')]);
        assert.notEqual(
          first,
          'waited',
          'the others answered before any statement waited for the held session',
        );
        assert.deepEqual(
          (first as Awaited<(typeof answers)[number]>[]).map((answer) => answer.refreshToken),
          opened.slice(1).map((session) => successorOf(session.token)),
        );
        // Then the held session's own statement waits for it, and is answered once it is let go.
        await waiting;
        await holder.query('ROLLBACK');
        assert.equal((await answers[0]!).refreshToken, successorOf(opened[0]!.token));
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
    });

    it('refreshes the others when the server refuses the batch for one entry', async () => {
      const [first, clashing, last, elsewhere] = await openMany(4);
      // Another session already holds the successor one entry would insert: the batch's insert breaks
      // refresh_tokens' uniqueness and its whole transaction rolls back.
      await database.pool.query(
        `INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, session_id, created_at, updated_at)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, $2, false, $3, now(), now())`,
        [hashSecret(successorOf(clashing!.token)), userId, elsewhere!.id],
      );
      const now = new Date();
      const answers = await Promise.all(
        [first!, clashing!, last!].map((session) => code(sessions().rotate(session.token, now))),
      );
      assert.equal(answers[0], 'ok');
      assert.equal(answers[2], 'ok');
      assert.notEqual(answers[1], 'ok', 'the clashing entry fails on its own');
      for (const session of [first!, last!]) {
        const { rows } = await database.pool.query(
          'SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE token = $1 AND NOT revoked',
          [hashSecret(successorOf(session.token))],
        );
        assert.equal(rows[0].n, 1, 'its successor stored');
      }
    });

    /** The store on a pool of its own whose connections start with the `settings` given. */
    async function storeWith(settings: string, work: (store: PostgresStore) => Promise<void>): Promise<void> {
      const pool = new pg.Pool({ connectionString: database.url, options: settings });
      try {
        await work(
          new PostgresStore(pool, database.names, { preparedStatements: database.config.preparedStatements }),
        );
      } finally {
        await pool.end();
      }
    }

    it('refreshes the others when one entry waits past lock_timeout for a token another transaction holds', async () => {
      const opened = await openMany(3);
      const holder = await database.pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM auth.refresh_tokens WHERE token = $1 FOR UPDATE', [
          hashSecret(opened[1]!.token),
        ]);
        // The batch's update waits for the held token until lock_timeout ends it (55P03): the wait is
        // certain, the lock being held until every answer is in.
        await storeWith('-c lock_timeout=200', async (store) => {
          const manager = new SessionManager(store, refreshSettings, keys);
          const now = new Date();
          const answers = await Promise.all(
            opened.map((session) => code(manager.rotate(session.token, now))),
          );
          assert.deepEqual(answers, ['ok', '55P03', 'ok']);
        });
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
    });

    it('does not send again a batch a read-only server refused: each caller gets its error', async () => {
      const opened = await openMany(3);
      await storeWith('-c default_transaction_read_only=on', async (store) => {
        const manager = new SessionManager(store, refreshSettings, keys);
        const now = new Date();
        const trips = await countRoundTrips(database.url, () =>
          Promise.all(opened.map((session) => code(manager.rotate(session.token, now)))),
        );
        assert.deepEqual(trips.answer, ['25006', '25006', '25006']);
        assert.equal(trips.count, 1, `one statement, sent: ${trips.statements.join(' | ')}`);
      });
    });
  },
);
