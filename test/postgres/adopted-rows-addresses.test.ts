import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { testStoreConfig } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import type { TestApp } from '../support/app.js';
import { useTestDatabase } from '../support/test-database.js';

const PASSWORD = 'a long passphrase';

/**
 * Users an address finds, as GoTrue's FindUserByEmailAndAudience finds them (`is_sso_user = false`):
 * GoTrue's schema lets an SSO user hold the address of a password user (users_email_partial_key is
 * partial), and a DBA may soft-delete a user (deleted_at) without obfuscating its address as GoTrue's
 * own delete does. Neither may be what a sign-up, a recovery or a magic link finds by the address.
 */
describe('SSO and soft-deleted users, by their address (PostgreSQL)', () => {
  let t: TestApp;
  let sink: SmtpSink;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => stopMailingApp(t, sink) });

  before(async () => {
    ({ t, sink } = await startMailingApp({ store: testStoreConfig(db.url) }));
  });

  const post = (url: string, payload: object) =>
    t.app.inject({ method: 'POST', url: `/auth/v1${url}`, payload });

  /** An SSO user as GoTrue's SAML sign-in writes it: no password, its address its provider's. */
  async function ssoUser(email: string): Promise<string> {
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, email_confirmed_at, raw_app_meta_data,
         raw_user_meta_data, is_sso_user, created_at, updated_at)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, now(),
         '{"provider": "sso:acme", "providers": ["sso:acme"]}', '{}', true, now(), now())`,
      [id, email],
    );
    return id;
  }

  /** The session a recovery mailed to `email` opens, typed in as its code. */
  async function recoveredUserId(email: string): Promise<string> {
    const since = sink.mails.length;
    const recover = await post('/recover', { email });
    assert.equal(recover.statusCode, 200, recover.body);
    const { code } = secretsOf(await nextMail(sink, email, since));
    const verified = await post('/verify', { type: 'recovery', email, token: code });
    assert.equal(verified.statusCode, 200, verified.body);
    return verified.json<{ user: { id: string } }>().user.id;
  }

  it("an SSO user's address: a password sign-up takes it, and recovery and sign-in reach that user", async () => {
    const email = 'ann@acme.test';
    const sso = await ssoUser(email);
    const account = await confirmedGotrueAccount(t, sink, email, PASSWORD);
    assert.notEqual(account.user.id, sso);

    assert.equal(await recoveredUserId(email), account.user.id);
    const signedIn = await post('/token?grant_type=password', { email, password: PASSWORD });
    assert.equal(signedIn.statusCode, 200, signedIn.body);
    assert.equal(signedIn.json<{ user: { id: string } }>().user.id, account.user.id);
  });

  it('a soft-deleted user: no recovery, no magic link, no password sign-in', async () => {
    const email = 'bob@acme.test';
    const account = await confirmedGotrueAccount(t, sink, email, PASSWORD);
    await db.pool.query(`UPDATE auth.users SET deleted_at = now() WHERE id = $1`, [account.user.id]);
    const tokens = () =>
      db.pool
        .query<{ n: number }>(`SELECT count(*)::int AS n FROM restauth.code_tokens WHERE user_id = $1`, [
          account.user.id,
        ])
        .then(({ rows }) => rows[0]!.n);
    const before = await tokens();

    const recover = await post('/recover', { email });
    assert.ok(recover.statusCode < 500, recover.body);
    const otp = await post('/otp', { email, create_user: false });
    assert.ok(otp.statusCode < 500, otp.body);
    const signIn = await post('/token?grant_type=password', { email, password: PASSWORD });
    assert.equal(signIn.statusCode, 400, signIn.body);
    // Nothing that opens a session of the deleted user was made for it.
    assert.equal(await tokens(), before);
  });
});
