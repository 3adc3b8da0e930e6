import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import { decodeJwt } from 'jose';
import type pg from 'pg';
import type { TestApp } from '../support/app.js';
import { gotrueClient, listen, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';
import { migrateUpTo, SUPABASE_NAMES } from '../support/postgres-migrations.js';
import type { SmtpSink } from '../support/smtp-sink.js';

const NIL = '00000000-0000-0000-0000-000000000000';
const PASSWORD = 'correct horse battery';

/**
 * Migration 31: users stored before restauth kept app_metadata's provider and providers (a GitHub
 * user's token said `email` while GET /user said `github`) get them from their identities, so the
 * token a sign-in issues (auth-js over HTTP) says what GET /user says; a user with no identity gets
 * `email`, an anonymous one none, and a row GoTrue wrote keeps its own.
 */
describe('migration 31: providers stored for the users from before', () => {
  let url: string;
  let t: TestApp;
  let sink: SmtpSink;
  let sql: pg.Pool;
  const db = useTestDatabase({
    max: 2,
    migrateThrough: 0,
    beforeDrop: () => (t ? stopMailingApp(t, sink) : undefined),
  });
  let authUrl: string;
  const names = SUPABASE_NAMES;
  const ids = {
    github: '11111111-1111-4111-8111-111111111111',
    both: '22222222-2222-4222-8222-222222222222',
    bare: '33333333-3333-4333-8333-333333333333',
    anonymous: '44444444-4444-4444-8444-444444444444',
    gotrue: '55555555-5555-4555-8555-555555555555',
  };

  before(async () => {
    ({ url, pool: sql } = db);
    await migrateUpTo(sql, names, 30);
    const hash = await bcrypt.hash(PASSWORD, 4);
    const insertUser = (id: string, email: string | null, appMetadata: object, anonymous = false) =>
      sql.query(
        `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
           raw_app_meta_data, raw_user_meta_data, created_at, updated_at, confirmation_token, recovery_token,
           email_change_token_new, email_change, is_anonymous)
         VALUES ($1, $2, 'authenticated', 'authenticated', $3, $4, now(), $5, '{}', now() - interval '1 day',
           now(), '', '', '', '', $6)`,
        [NIL, id, email, hash, appMetadata, anonymous],
      );
    const insertIdentity = (userId: string, provider: string, providerId: string, age: string) =>
      sql.query(
        `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
         VALUES ($1, $2, jsonb_build_object('sub', $1::text), $3, now() - $4::interval, now())`,
        [providerId, userId, provider, age],
      );
    await insertUser(ids.github, 'gh@acme.test', { plan: 'pro' });
    await insertIdentity(ids.github, 'github', 'gh-1', '1 day');
    await insertUser(ids.both, 'both@acme.test', {});
    await insertIdentity(ids.both, 'email', ids.both, '2 days');
    await insertIdentity(ids.both, 'github', 'gh-2', '1 day');
    await insertUser(ids.bare, null, {});
    await insertUser(ids.anonymous, null, {}, true);
    await insertUser(ids.gotrue, 'gt@acme.test', { provider: 'google', providers: ['google'] });
    await insertIdentity(ids.gotrue, 'email', ids.gotrue, '1 day');
    // The app migrates (31) as it opens the store.
    ({ t, sink } = await startMailingApp({
      store: testStoreConfig(url),
      roles: { anonymous: names.anonymousRole, authenticated: names.authenticatedRole },
    }));
    authUrl = await listen(t);
  });

  const appMetadataOf = async (id: string) => (await t.services.store.findUserById(id))!.appMetadata;

  it('gives each user the providers of its identities, oldest first; none an email; anonymous none', async () => {
    assert.deepEqual(await appMetadataOf(ids.github), {
      plan: 'pro',
      provider: 'github',
      providers: ['github'],
    });
    assert.deepEqual(await appMetadataOf(ids.both), { provider: 'email', providers: ['email', 'github'] });
    assert.deepEqual(await appMetadataOf(ids.bare), { provider: 'email', providers: ['email'] });
    assert.deepEqual(await appMetadataOf(ids.anonymous), {});
    assert.deepEqual(
      await appMetadataOf(ids.gotrue),
      { provider: 'google', providers: ['google'] },
      "GoTrue's kept",
    );
  });

  it("a GitHub user's token, signing in with its password, says github, as GET /user", async () => {
    const { client } = gotrueClient(authUrl);
    const signedIn = await client.signInWithPassword({ email: 'gh@acme.test', password: PASSWORD });
    assert.equal(signedIn.error, null);
    const expected = { plan: 'pro', provider: 'github', providers: ['github'] };
    assert.deepEqual(decodeJwt(signedIn.data.session!.access_token)['app_metadata'], expected);
    assert.deepEqual((await client.getUser()).data.user?.app_metadata, expected);
  });
});
