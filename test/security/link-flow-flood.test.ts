import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { providerAddressOf } from '../support/oidc-provider.js';

/**
 * linkIdentity's GET /user/identities/authorize stores a flow-state row per request, kept until
 * its callback or the upkeep, as GET /authorize does; /authorize counts against the sign-in
 * allowance, this one counted nowhere: one signed-in client wrote as many rows as it asked for.
 * Both now count alike: the allowance (3 here) trips on the 4th link started. Its query had no
 * bounds either (a referrer of any length stored in the row, any number of parameters passed on
 * to the provider): it now has /authorize's.
 */

const MAX = 3;

describe('linkIdentity flows started in a loop', () => {
  let t: TestApp;
  let accessToken: string;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        identities: { manualLinking: true, implicitLinking: true },
        rateLimits: { signIn: { max: MAX, window: 60 } },
        // Building the provider's address needs no request to it: nothing listens there.
        external: {
          github: { enabled: true, client_id: 'cid', secret: 'secret', url: 'https://github.test' },
        },
      },
      env: { RESTAUTH_RATE_LIMITS: '' },
      // The window ends only if the test advances the clock, not when a slow machine takes 60 s.
      clockStoppedAt: Date.now(),
    });
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'looper@acme.test', password: 'correct horse battery' },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    accessToken = signUp.json<{ access_token: string }>().access_token;
  });
  after(() => t.close());

  const startLink = (more = '') =>
    t.app.inject({
      method: 'GET',
      url: `/auth/v1/user/identities/authorize?provider=github&skip_http_redirect=true${more}`,
      headers: { authorization: `Bearer ${accessToken}` },
    });

  it("bounds the link's query as /authorize's: no longer referrer, no more parameters for the provider", async () => {
    const long = `https://app.test/${'a'.repeat(2000)}`;
    const many = Array.from({ length: 40 }, (_, n) => `p${n}=x`).join('&');
    for (const query of [`redirect_to=${long}`, many]) {
      const link = await startLink(`&${query}`);
      assert.equal(link.statusCode, 400, link.body);
      const authorize = await t.app.inject({
        method: 'GET',
        url: `/auth/v1/authorize?provider=github&${query}`,
      });
      assert.equal(authorize.statusCode, 400, authorize.body);
    }
  });

  it('counts each link started against the sign-in allowance', async () => {
    // The refusals above were refused by the schema, before the limit counted them.
    for (let attempt = 1; attempt <= MAX; attempt++) {
      const started = await startLink();
      assert.equal(started.statusCode, 200, started.body);
      assert.match(
        providerAddressOf(started.json<{ url: string }>().url),
        /^https:\/\/github\.test\/login\/oauth\/authorize\?/u,
      );
    }
    const limited = await startLink();
    assert.equal(limited.statusCode, 429, limited.body);
    assert.equal(limited.json<{ error_code: string }>().error_code, 'over_request_rate_limit');
  });
});
