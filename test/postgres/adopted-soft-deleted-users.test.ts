import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { openPostgresPool } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { useAdoptedRowsApp, type SignedUpSession } from '../support/adopted-rows-app.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { FAST_HASHING, nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { testRoles, testStoreConfig } from '../support/postgres.js';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';
import { preRequestVerdict } from '../support/pre-request-verdict.js';
import { signedInUser } from '../support/signed-in-user.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { useTestDatabase } from '../support/test-database.js';
import { createGoTrueMadeDatabase, type GoTrueMadeDatabase } from './gotrue-made-database.js';

/**
 * A soft-deleted user (auth.users.deleted_at set) is signed out everywhere, as GoTrue's soft delete
 * (models.SoftDeleteUser, then Logout) leaves it: its sessions end, so GET /user answers 403
 * session_not_found, a refresh 400, and PostgREST's pre-request refuses the access token. Whoever
 * sets deleted_at (a DBA, GoTrue's own role), before migration 56 or in a GoTrue database taken over.
 */
const PASSWORD = 'a long passphrase';

/** The user's sessions still in auth.sessions, and the reasons restauth kept for those that ended. */
async function sessionsOf(pool: pg.Pool, userId: string) {
  const live = await pool.query('SELECT 1 FROM auth.sessions WHERE user_id = $1', [userId]);
  const { rows } = await pool.query<{ reason: string }>(
    'SELECT reason FROM restauth.session_ends WHERE user_id = $1 ORDER BY reason',
    [userId],
  );
  return { live: live.rowCount, ended: rows.map((row) => row.reason) };
}

describe('a soft-deleted user is signed out everywhere (PostgreSQL)', () => {
  const { db, call, signUp } = useAdoptedRowsApp();
  const signedUp = (email: string) => signUp(email, PASSWORD);

  /** GET /user, a refresh and the pre-request with the session's tokens, after the soft delete. */
  async function assertSignedOut(session: SignedUpSession): Promise<void> {
    const user = await call('GET', '/auth/v1/user', session.access_token);
    assert.equal(user.statusCode, 403, user.body);
    assert.equal(user.json<{ error_code: string }>().error_code, 'session_not_found');
    const refreshed = await call('POST', '/auth/v1/token?grant_type=refresh_token', undefined, {
      refresh_token: session.refresh_token,
    });
    assert.equal(refreshed.statusCode, 400, refreshed.body);
    assert.equal(await preRequestVerdict(db.pool, session.access_token), PRE_REQUEST_REFUSAL);
  }

  it("a DBA's UPDATE of deleted_at ends every session of the user, and only the user's", async () => {
    const session = await signedUp('dba@example.com');
    const other = await signedUp('other@example.com');
    assert.equal(await preRequestVerdict(db.pool, session.access_token), null);

    await db.pool.query('UPDATE auth.users SET deleted_at = now() WHERE id = $1', [session.user.id]);

    assert.deepEqual(await sessionsOf(db.pool, session.user.id), { live: 0, ended: ['user_deleted'] });
    await assertSignedOut(session);
    assert.equal(await preRequestVerdict(db.pool, other.access_token), null);
    assert.deepEqual(await sessionsOf(db.pool, other.user.id), { live: 1, ended: [] });
  });

  it("GoTrue's own role, which may not touch restauth's tables, soft-deletes: it commits, the user is signed out", async () => {
    const session = await signedUp('gotrue@example.com');
    const role = `gotrue_${randomUUID().replaceAll('-', '')}`;
    await db.pool.query(`CREATE ROLE ${role} NOLOGIN BYPASSRLS; GRANT USAGE ON SCHEMA auth TO ${role};
      GRANT SELECT, UPDATE ON auth.users TO ${role}`);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${role}`);
      // The columns GoTrue's SoftDeleteUser writes (its Logout then finds no session left).
      await client.query(
        `UPDATE auth.users SET email = $2, encrypted_password = NULL, deleted_at = now() WHERE id = $1`,
        [session.user.id, `${session.user.id}@deleted.example`],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
      await db.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
    assert.deepEqual(await sessionsOf(db.pool, session.user.id), { live: 0, ended: ['user_deleted'] });
    await assertSignedOut(session);
  });
});

describe('a soft-deleted user gets no session by a way that names it by id (PostgreSQL)', () => {
  let t: TestApp;
  let sink: SmtpSink;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => stopMailingApp(t, sink) });

  before(async () => {
    ({ t, sink } = await startMailingApp({ store: testStoreConfig(db.url) }));
  });

  it('a magic link mailed before the soft delete opens nothing after it: its code is gone', async () => {
    const email = 'link@example.com';
    const account = await confirmedGotrueAccount(t, sink, email, PASSWORD);
    const since = sink.mails.length;
    const otp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/otp',
      payload: { email, create_user: false },
    });
    assert.equal(otp.statusCode, 200, otp.body);
    const { code } = secretsOf(await nextMail(sink, email, since));

    await db.pool.query('UPDATE auth.users SET deleted_at = now() WHERE id = $1', [account.user.id]);
    const codes = await db.pool.query('SELECT 1 FROM auth.one_time_tokens WHERE user_id = $1', [
      account.user.id,
    ]);
    assert.equal(codes.rowCount, 0, "GoTrue's ClearAllOneTimeTokensForUser: no code shown either");

    const verified = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/verify',
      payload: { type: 'email', email, token: code },
    });
    assert.ok(
      verified.statusCode >= 400 && verified.statusCode < 500,
      `${verified.statusCode} ${verified.body}`,
    );
    assert.deepEqual(await sessionsOf(db.pool, account.user.id), { live: 0, ended: ['user_deleted'] });
  });

  it('a session opened for the user by id after the soft delete (a provider, a flow begun before) is refused', async () => {
    const account = await confirmedGotrueAccount(t, sink, 'byid@example.com', PASSWORD);
    await db.pool.query('UPDATE auth.users SET deleted_at = now() WHERE id = $1', [account.user.id]);
    await assert.rejects(
      t.services.store.createSession({
        id: randomUUID(),
        userId: account.user.id,
        createdAt: new Date(),
        notAfter: new Date(Date.now() + 86_400_000),
        refreshSecret: 'secret',
        firstRefreshTokenHash: randomUUID(),
        maxPerUser: 0,
      }),
      { code: 'user_not_found' },
    );
    assert.deepEqual(await sessionsOf(db.pool, account.user.id), { live: 0, ended: ['user_deleted'] });
  });
});

describe('migration 56 ends the sessions of users soft-deleted before it', () => {
  const db = useTestDatabase({ max: 2, migrateThrough: 55 });

  it('signs out the soft-deleted user and keeps the others signed in', async () => {
    const deleted = await signedInUser(db.store, 'deleted-before');
    const kept = await signedInUser(db.store, 'kept');
    await db.pool.query('UPDATE auth.users SET deleted_at = now() WHERE id = $1', [deleted.user.id]);
    assert.deepEqual(await sessionsOf(db.pool, deleted.user.id), { live: 1, ended: [] });

    // Through 56 only: later migrations of other work are not this test's.
    assert.deepEqual(await migrate(db.pool, db.names, { through: 56 }), [56]);

    assert.deepEqual(await sessionsOf(db.pool, deleted.user.id), { live: 0, ended: ['user_deleted'] });
    assert.deepEqual(await sessionsOf(db.pool, kept.user.id), { live: 1, ended: [] });
  });
});

describe('a GoTrue database taken over: its soft-deleted users are signed out', () => {
  const db = useTestDatabase({ migrateThrough: 0, max: 2 });
  let made: GoTrueMadeDatabase;
  before(async () => {
    made = await createGoTrueMadeDatabase(db.url);
  });

  it("ends the soft-deleted user's GoTrue session at the takeover; her token no longer refreshes", async () => {
    const [gail, hugo] = made.users;
    await db.pool.query('UPDATE auth.users SET deleted_at = now() WHERE id = $1', [gail.id]);

    const pool = await openPostgresPool(db.config, testRoles, { logger: { info() {}, warn() {} } });
    await pool.end();

    assert.deepEqual(await sessionsOf(db.pool, gail.id), { live: 0, ended: ['user_deleted'] });
    assert.deepEqual(await sessionsOf(db.pool, hugo.id), { live: 1, ended: [] });
    const t = await createTestApp({
      format: 'restauth',
      config: { store: db.config, passwords: FAST_HASHING },
    });
    try {
      const refreshed = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=refresh_token',
        payload: { refresh_token: made.v1.token },
      });
      assert.equal(refreshed.statusCode, 400, refreshed.body);
    } finally {
      await t.close();
    }
  });
});
