import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Which addresses have accounts, asked through PUT /user. Sign-up (with confirmation), recovery,
 * magic links and resends answer alike for every address and count against the client's mail
 * allowance; an email change answers email_exists at once for a taken address. A stranger signed in
 * anonymously asked that of address after address, as fast as it liked: each ask now counts against
 * the same allowance (rateLimits.recovery) as the routes that mail an address.
 */
const PREFIX = '/auth/v1';
const ALLOWANCE = 3;

describe('GoTrue: PUT /user as an address oracle', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let stranger: string;
  before(async () => {
    // Rate limits on (test apps turn them off); a window of an hour outlasts any slow machine's run.
    ({ t, sink } = await startMailingApp(
      { signup: { anonymousUsers: true }, rateLimits: { recovery: { max: ALLOWANCE, window: 3600 } } },
      { RESTAUTH_RATE_LIMITS: '' },
    ));
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'victim@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const anonymous = await t.app.inject({ method: 'POST', url: `${PREFIX}/signup`, payload: {} });
    assert.equal(anonymous.statusCode, 200, anonymous.body);
    stranger = anonymous.json<{ access_token: string }>().access_token;
  });
  after(() => stopMailingApp(t, sink));

  function putUser(payload: Record<string, unknown>) {
    return t.app.inject({
      method: 'PUT',
      url: `${PREFIX}/user`,
      payload,
      headers: { authorization: `Bearer ${stranger}` },
    });
  }

  it("an anonymous stranger's address probes count against the mail allowance", async () => {
    for (let ask = 1; ask <= ALLOWANCE; ask++) {
      const probe = await putUser({ email: 'victim@acme.test' });
      assert.equal(probe.statusCode, 422, probe.body);
      assert.equal(probe.json<{ error_code: string }>().error_code, 'email_exists');
    }
    const over = await putUser({ email: 'victim@acme.test' });
    assert.equal(over.statusCode, 429, 'past the allowance, no answer about the address');
    assert.equal(over.json<{ error_code: string }>().error_code, 'over_request_rate_limit');
    assert.ok(over.headers['retry-after']);
  });

  it('an update without an address is not counted', async () => {
    for (let update = 1; update <= ALLOWANCE + 1; update++) {
      const res = await putUser({ data: { visits: update } });
      assert.equal(res.statusCode, 200, res.body);
    }
  });
});
