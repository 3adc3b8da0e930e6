import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { testStoreConfig } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import type { TestApp } from '../support/app.js';
import { useTestDatabase } from '../support/test-database.js';

const PASSWORD = 'a long passphrase';
const AUDIENCE = 'my-app';

/**
 * GoTrue finds a user by address only in its own instance and audience (models/user.go:
 * FindUserByEmailAndAudience asks `instance_id = uuid.Nil AND aud = ?`): a user of another instance
 * (an older multi-instance GoTrue) or, with jwt.audience set, of another audience is not found. Found,
 * such a user signed in to restauth (200) with tokens nothing took (403 on GET /user), and its mailbox
 * got recovery and magic-link codes. Each case moves a confirmed user out of scope for real, then asks
 * every lookup by address: the password sign-in (400 invalid_credentials, as GoTrue), recovery and
 * magic link (the enumeration-safe 200, no code made), and a sign-up of the address (the look-alike
 * answer, no second user). A row written without instance_id or aud (NULL) is restauth's own.
 */
const CASES = [
  {
    name: 'another GoTrue instance',
    sql: 'UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1',
    found: false,
  },
  { name: 'another audience', sql: `UPDATE auth.users SET aud = 'partner-app' WHERE id = $1`, found: false },
  { name: 'instance_id NULL', sql: 'UPDATE auth.users SET instance_id = NULL WHERE id = $1', found: true },
  { name: 'aud NULL', sql: 'UPDATE auth.users SET aud = NULL WHERE id = $1', found: true },
];

describe('users of another GoTrue instance or audience, by their address (PostgreSQL)', () => {
  let t: TestApp;
  let sink: SmtpSink;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => stopMailingApp(t, sink) });

  before(async () => {
    ({ t, sink } = await startMailingApp({ store: testStoreConfig(db.url), jwt: { audience: AUDIENCE } }));
  });

  const post = (url: string, payload: object) =>
    t.app.inject({ method: 'POST', url: `/auth/v1${url}`, payload });

  /** The one-time codes restauth holds for the user, and the users at the address. */
  async function state(userId: string, email: string) {
    const codes = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM restauth.code_tokens WHERE user_id = $1',
      [userId],
    );
    const users = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM auth.users WHERE email = $1',
      [email],
    );
    return { codes: codes.rows[0]!.n, users: users.rows[0]!.n };
  }

  CASES.forEach((scope, index) => {
    it(`${scope.name}: ${scope.found ? 'found as before' : 'not found, as GoTrue finds none'}`, async () => {
      const email = `scope-${index}@acme.test`;
      const account = await confirmedGotrueAccount(t, sink, email, PASSWORD);
      await db.pool.query(scope.sql, [account.user.id]);

      const signIn = await post('/token?grant_type=password', { email, password: PASSWORD });
      if (scope.found) {
        assert.equal(signIn.statusCode, 200, signIn.body);
        return;
      }
      assert.equal(signIn.statusCode, 400, signIn.body);
      assert.equal(signIn.json<{ error_code: string }>().error_code, 'invalid_credentials');

      const before = await state(account.user.id, email);
      const recover = await post('/recover', { email });
      assert.equal(recover.statusCode, 200, recover.body);
      const otp = await post('/otp', { email, create_user: false });
      assert.ok(otp.statusCode < 500, otp.body);
      const signUp = await post('/signup', { email, password: 'another long passphrase' });
      assert.equal(signUp.statusCode, 200, signUp.body);
      await t.services.idle();
      // No code for the out-of-scope user's mailbox, no second user at the address.
      assert.deepEqual(await state(account.user.id, email), before);
    });
  });
});
