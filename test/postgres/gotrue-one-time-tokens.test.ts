import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { hashSecret, randomSecret } from '../../src/core/secrets.js';
import type { OneTimeToken } from '../../src/core/ports/store.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';
import { migrateUpTo, SUPABASE_NAMES } from '../support/postgres-migrations.js';

const NIL = '00000000-0000-0000-0000-000000000000';
const HOUR = 3_600_000;

interface ShownRow {
  token_type: string;
  token_hash: string;
  relates_to: string;
}

/**
 * One-time tokens in GoTrue's layout (migration 21): restauth's record of each in restauth.code_tokens,
 * named by the user's uuid; GoTrue's auth.one_time_tokens showing the newest live token of each type
 * as GoTrue means it. An upgraded database's mailed link still works.
 */
describe("one-time tokens in GoTrue's layout on PostgreSQL", () => {
  let url: string;
  let t: TestApp;
  let sql: pg.Pool;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => t?.close() });
  const names = SUPABASE_NAMES;
  // Written before the upgrade, in the earlier layout.
  const userId = '5b1f0d3e-8a52-4c4e-9d6a-0f0c7e1a2b3c';
  const recoveryLink = randomSecret();
  const markerHash = hashSecret(randomSecret());

  before(async () => {
    ({ url, pool: sql } = db);
    await migrateUpTo(sql, names, 20);
    await sql.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
         raw_app_meta_data, raw_user_meta_data, created_at, updated_at, confirmation_token, recovery_token,
         email_change_token_new, email_change)
       VALUES ($1, $2, 'authenticated', 'authenticated', 'kept@example.com', NULL, now(), '{}', '{}', now(),
         now(), '', '', '', '')`,
      [NIL, userId],
    );
    // Migration 19 gave the user its account (a trigger); its integer key named it in the earlier layout.
    const { rows } = await sql.query<{ id: number }>('SELECT id FROM restauth.accounts WHERE uid = $1', [
      userId,
    ]);
    const issued = new Date(Date.now() - 60_000);
    await sql.query(
      `INSERT INTO auth.one_time_tokens (hash, user_id, purpose, created_at, expires_at, recipient) VALUES
         ($1, $3, 'recovery', $4, $5, 'kept@example.com'),
         ($2, $3, 'email_change_confirmed', $4, $5, NULL)`,
      [hashSecret(recoveryLink), markerHash, rows[0]!.id, issued, new Date(Date.now() + HOUR)],
    );
    // The app migrates (21) as it opens the store.
    t = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(url),
        roles: { anonymous: names.anonymousRole, authenticated: names.authenticatedRole },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      },
    });
  });

  const shown = async (user: string) =>
    (
      await sql.query<ShownRow>(
        `SELECT token_type::text, token_hash, relates_to FROM auth.one_time_tokens WHERE user_id = $1
         ORDER BY token_type`,
        [user],
      )
    ).rows;

  it('converts the tokens: restauth.code_tokens by uuid, GoTrue showing those it has a type for', async () => {
    const { rows } = await sql.query(
      'SELECT purpose, user_id::text FROM restauth.code_tokens ORDER BY purpose',
    );
    assert.deepEqual(rows, [
      { purpose: 'email_change_confirmed', user_id: userId },
      { purpose: 'recovery', user_id: userId },
    ]);
    assert.deepEqual(await shown(userId), [
      { token_type: 'recovery_token', token_hash: hashSecret(recoveryLink), relates_to: 'kept@example.com' },
    ]);
  });

  it("an upgraded database's mailed link still works once, and is no longer shown", async () => {
    const verify = () =>
      t.app.inject({
        method: 'POST',
        url: '/auth/v1/verify',
        payload: { type: 'recovery', token_hash: recoveryLink },
      });
    const res = await verify();
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { user: { id: string } }).user.id, userId);
    assert.deepEqual(await shown(userId), []);
    assert.equal((await verify()).statusCode >= 400, true, 'spent');
  });

  it('shows the newest token of each GoTrue type, keeping restauth’s one per purpose', async () => {
    const store = t.services.store;
    const now = new Date();
    const token = (purpose: string, hash: string, codeHash: string | null = null): OneTimeToken => ({
      hash,
      codeHash,
      recipient: codeHash === null ? null : 'kept@example.com',
      userId,
      purpose,
      createdAt: now,
      expiresAt: new Date(now.getTime() + HOUR),
      data: {},
    });
    await store.createOneTimeToken(token('recovery', 'ott-recovery', 'code-recovery'));
    await store.createOneTimeToken(token('magiclink', 'ott-magic'));
    await store.createOneTimeToken(token('confirmation', 'ott-confirm'));
    assert.deepEqual(await shown(userId), [
      { token_type: 'confirmation_token', token_hash: 'ott-confirm', relates_to: 'kept@example.com' },
      { token_type: 'recovery_token', token_hash: 'ott-magic', relates_to: 'kept@example.com' },
    ]);
    const { rows } = await sql.query<{ created: boolean }>(
      `SELECT created_at = ($2::timestamptz AT TIME ZONE 'UTC') AS created FROM auth.one_time_tokens
       WHERE token_hash = 'ott-confirm' AND user_id = $1`,
      [userId, now],
    );
    assert.deepEqual(rows, [{ created: true }], "GoTrue's dates are UTC without a zone");

    // The recovery token is restauth's still, though GoTrue shows the magic link in its type's place.
    assert.equal((await store.consumeOneTimeToken('ott-recovery', 'recovery', now))?.userId, userId);
    assert.equal((await store.consumeOneTimeToken('ott-magic', 'magiclink', now))?.userId, userId);
    assert.deepEqual(
      (await shown(userId)).map((row) => row.token_type),
      ['confirmation_token'],
    );

    // A code guessed wrong until it dies leaves the link, which GoTrue's table still shows (its hash).
    await store.createOneTimeToken(token('recovery', 'ott-guessed', 'code-right'));
    for (let i = 0; i < 3; i++) {
      const missed = await store.consumeOneTimeCode({
        recipient: 'kept@example.com',
        candidates: [{ purpose: 'recovery', codeHash: `code-wrong-${i}` }],
        now,
        maxFailures: 3,
      });
      assert.equal(missed, null);
    }
    assert.deepEqual(
      (await shown(userId)).map((row) => row.token_type),
      ['confirmation_token', 'recovery_token'],
    );
    assert.equal((await store.consumeOneTimeToken('ott-guessed', 'recovery', now))?.userId, userId);
    assert.deepEqual(
      (await shown(userId)).map((row) => row.token_type),
      ['confirmation_token'],
    );
  });

  it('deleting the user takes its tokens from both tables', async () => {
    assert.ok((await shown(userId)).length > 0);
    assert.equal(await t.services.store.deleteUser(userId), true);
    assert.deepEqual(await shown(userId), []);
    const { rows } = await sql.query(
      'SELECT count(*)::int AS n FROM restauth.code_tokens WHERE user_id = $1',
      [userId],
    );
    assert.deepEqual(rows, [{ n: 0 }]);
  });
});
