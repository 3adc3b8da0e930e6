import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { GoTrueAdminApi } from '@supabase/auth-js';
import { gotrueClient, serviceAdminOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import { queryOnce } from '../support/mfa-factors.js';
import { countRoundTrips } from '../support/round-trips.js';

/**
 * GoTrue's GET /user answers the user's MFA factors (omitted when none), and auth-js's
 * mfa.listFactors() reads them from there: restauth's had none, so an app listing a user's factors
 * (an adopted GoTrue database's, enrolled but not verified) saw an empty list. Now they come, read in
 * the statement that finds the user: GET /user sends as many statements as before. Real PostgreSQL,
 * the real auth-js.
 */
const PASSWORD = 'a long passphrase 9';

describe("GET /user lists the user's MFA factors (postgres store)", { timeout: 60_000 }, () => {
  const app = listeningMailingApp('postgres', { siteUrl: 'https://app.test' });
  let admin: GoTrueAdminApi;

  before(async () => {
    admin = await serviceAdminOf(app);
  });

  /** A confirmed user signed in with auth-js: the client holding its session, and its id. */
  async function signedIn(email: string) {
    const created = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(created.error, null);
    const { client } = gotrueClient(app.url);
    const { error } = await client.signInWithPassword({ email, password: PASSWORD });
    assert.equal(error, null);
    return { client, userId: created.data.user!.id };
  }

  /** An enrolled, not yet verified TOTP factor (as GoTrue's enroll leaves it): it refuses no session. */
  async function unverifiedFactor(userId: string, name: string): Promise<string> {
    const id = randomUUID();
    await queryOnce(
      app.store.config,
      `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
       VALUES ($1, $2, $3, 'totp', 'unverified', now(), now(), 'JBSWY3DPEHPK3PXP')`,
      [id, userId, name],
    );
    return id;
  }

  const storeUrl = () => (app.store.config['store'] as { url: string }).url;
  const getUser = (accessToken: string) =>
    app.t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${accessToken}` },
    });

  it("auth-js's mfa.listFactors() lists them; GET /user reads them with the user", async () => {
    const { client, userId } = await signedIn('fay@acme.test');
    const accessToken = (await client.getSession()).data.session!.access_token;
    const without = await countRoundTrips(storeUrl(), () => getUser(accessToken));
    assert.equal(without.answer.statusCode, 200, without.answer.body);
    assert.equal('factors' in without.answer.json(), false, 'GoTrue omits an empty list');
    // As before the factors came (counted with the change reverted): the session, the user, a pending
    // email change, the identities.
    assert.equal(without.count, 4, without.statements.join(' | '));

    const first = await unverifiedFactor(userId, 'phone app');
    const second = await unverifiedFactor(userId, 'tablet');
    const { data, error } = await client.mfa.listFactors();
    assert.equal(error, null);
    assert.deepEqual(
      data?.all.map((factor) => [factor.id, factor.friendly_name, factor.factor_type, factor.status]),
      [
        [first, 'phone app', 'totp', 'unverified'],
        [second, 'tablet', 'totp', 'unverified'],
      ],
    );
    assert.deepEqual(data?.totp, [], 'an unverified factor is not a level');

    const withFactors = await countRoundTrips(storeUrl(), () => getUser(accessToken));
    assert.equal(withFactors.answer.statusCode, 200, withFactors.answer.body);
    assert.equal(withFactors.count, without.count, withFactors.statements.join(' | '));
  });

  it("lists only the caller's factors (a guard: it passed before too)", async () => {
    const other = await signedIn('gus@acme.test');
    await unverifiedFactor(other.userId, 'phone app');
    const { client } = await signedIn('hal@acme.test');
    const { data, error } = await client.mfa.listFactors();
    assert.equal(error, null);
    assert.deepEqual(data?.all, []);
  });
});
