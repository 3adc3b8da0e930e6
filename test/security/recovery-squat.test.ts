import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';

/**
 * A squatter signs up with the owner's address (unconfirmed). The owner, finding the address
 * "registered", asks for a password reset and follows the recovery link: signed in, yet the account
 * stayed unconfirmed, and once it was confirmed (the first sign-up's mail, followed later) the
 * squatter's password signed in beside the owner. A recovery link into an unconfirmed account now
 * confirms it, as GoTrue's does, and retires what it held before, as a magic link does.
 */

const SQUATTER_PASSWORD = 'squatter passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a recovery link into an account a squatter signed up (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {} } });

    const post = (url: string, payload: Record<string, unknown>) =>
      app.t.app.inject({ method: 'POST', url, payload });
    const signIn = (email: string, password: string) =>
      post('/auth/v1/token?grant_type=password', { email, password });

    it("confirms the account and retires the squatter's password", async () => {
      const email = 'owner@acme.test';
      const squat = await post('/auth/v1/signup', { email, password: SQUATTER_PASSWORD });
      assert.equal(squat.statusCode, 200, squat.body);
      const confirmation = await app.sink.waitForMail((m) => m.to === email, 5000);

      const recover = await post('/auth/v1/recover', { email });
      assert.equal(recover.statusCode, 200, recover.body);
      const recovery = await app.sink.waitForMail((m) => m.to === email && m !== confirmation, 5000);
      const token = new URL(secretsOf(recovery).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'recovery', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      const { user } = verified.json<{ user: { email_confirmed_at: string | null } }>();
      assert.notEqual(user.email_confirmed_at, null, 'confirmed, as GoTrue');

      const squatter = await signIn(email, SQUATTER_PASSWORD);
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
      assert.equal(squatter.json<{ error_code: string }>().error_code, 'invalid_credentials');
      // The first sign-up's mail, followed now, confirms nothing more and gives the password no way back.
      const late = new URL(secretsOf(confirmation).link).searchParams.get('token');
      await post('/auth/v1/verify', { type: 'signup', token_hash: late });
      assert.equal((await signIn(email, SQUATTER_PASSWORD)).statusCode, 400);
    });

    it("a confirmed account's recovery keeps its password until the owner sets one", async () => {
      const email = 'kept@acme.test';
      const password = 'own passphrase';
      assert.equal((await post('/auth/v1/signup', { email, password })).statusCode, 200);
      const confirmation = await app.sink.waitForMail((m) => m.to === email, 5000);
      const token = new URL(secretsOf(confirmation).link).searchParams.get('token');
      assert.equal((await post('/auth/v1/verify', { type: 'signup', token_hash: token })).statusCode, 200);
      assert.equal((await post('/auth/v1/recover', { email })).statusCode, 200);
      const recovery = await app.sink.waitForMail((m) => m.to === email && m !== confirmation, 5000);
      const link = new URL(secretsOf(recovery).link).searchParams.get('token');
      assert.equal((await post('/auth/v1/verify', { type: 'recovery', token_hash: link })).statusCode, 200);
      assert.equal((await signIn(email, password)).statusCode, 200);
    });
  });
}
