import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * postgrest-auth's change_email answers email_exists for an address another account has. It needs
 * the account's password, but its holder asked that of address after address, counted only as
 * sign-ins (a generous allowance): which addresses have accounts. It now counts against the
 * client's recovery allowance too, as GoTrue's PUT /user naming an address does.
 */
const PASSWORD = 'a long passphrase';

describe("postgrest-auth change_email: a taken address costs the client's recovery allowance", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      // The windows end only when the test advances the clock, however slow its steps.
      clockStoppedAt: Date.parse('2026-03-01T12:00:00Z'),
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { postgrestAuth: {} },
        signup: { confirmEmail: false },
        rateLimits: { signIn: { max: 50, window: 60 }, recovery: { max: 2, window: 3600 } },
      },
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'target@acme.test',
      password: PASSWORD,
      emailConfirm: true,
    });
    const prober = await t.app.inject({
      method: 'POST',
      url: '/auth/users',
      payload: { username: 'prober', password: PASSWORD },
    });
    assert.equal(prober.statusCode, 201, prober.body);
  });
  after(() => t.close());

  const probe = (email: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/change_email',
      payload: { username: 'prober', password: PASSWORD, email },
      remoteAddress: '10.7.0.1',
    });

  it('the allowance answers email_exists, the next probe 429', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await probe('target@acme.test');
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /email_exists/u);
    }
    const refused = await probe('target@acme.test');
    assert.equal(refused.statusCode, 429, refused.body);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
  });
});
