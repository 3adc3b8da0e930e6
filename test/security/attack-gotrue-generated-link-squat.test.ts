import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * A squatter signs up with the owner's address and a password of their own (unconfirmed). The
 * owner's app then sends them a link it asked restauth's admin API for (GoTrue's generate_link:
 * an invitation, a magic link) and the owner follows it: the account is confirmed, and the
 * squatter's password signed in beside the owner, for good if the owner never sets one (a
 * magic-link user). The mailed /invite and /otp routes marked such a link to retire what the
 * account held before (its password and sessions); generate_link's links did not. Nor did
 * generate_link refuse to invite a confirmed account, as /invite does.
 */
const SQUATTER_PASSWORD = 'squatter passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a generate_link link into an account a squatter signed up (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {} } });

    const post = (url: string, payload: Record<string, unknown>, token?: string) =>
      app.t.app.inject({
        method: 'POST',
        url,
        payload,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
    const signIn = (email: string, password: string) =>
      post('/auth/v1/token?grant_type=password', { email, password });

    for (const type of ['magiclink', 'invite'] as const) {
      it(`${type}: followed, it confirms the account and retires the squatter's password`, async () => {
        const email = `owner-${type}@acme.test`;
        const squat = await post('/auth/v1/signup', { email, password: SQUATTER_PASSWORD });
        assert.equal(squat.statusCode, 200, squat.body);
        assert.equal((await signIn(email, SQUATTER_PASSWORD)).statusCode, 400, 'unconfirmed: no sign-in yet');

        const admin = await serviceTokenOf(app.t);
        const generated = await post('/auth/v1/admin/generate_link', { type, email }, admin);
        assert.equal(generated.statusCode, 200, generated.body);
        const { hashed_token } = generated.json<{ hashed_token: string }>();
        const verified = await post('/auth/v1/verify', { type, token_hash: hashed_token });
        assert.equal(verified.statusCode, 200, verified.body);
        const { user } = verified.json<{ user: { email_confirmed_at: string | null } }>();
        assert.notEqual(user.email_confirmed_at, null);

        const squatter = await signIn(email, SQUATTER_PASSWORD);
        assert.equal(squatter.statusCode, 400, `the squatter's password signed in: ${squatter.body}`);
        assert.equal(squatter.json<{ error_code: string }>().error_code, 'invalid_credentials');
      });
    }

    it("invite: a confirmed account is refused (email_exists), as /invite and GoTrue's generate_link", async () => {
      const email = 'confirmed@acme.test';
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'own passphrase',
        emailConfirm: true,
      });
      const admin = await serviceTokenOf(app.t);
      const generated = await post('/auth/v1/admin/generate_link', { type: 'invite', email }, admin);
      assert.equal(generated.statusCode, 422, generated.body);
      assert.equal(generated.json<{ error_code: string }>().error_code, 'email_exists');
    });
  });
}
