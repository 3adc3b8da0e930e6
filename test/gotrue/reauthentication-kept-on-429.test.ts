import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { nextMail, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * PUT /user with a password that needs the mailed reauthentication code and an address over its
 * recipient's allowance answers 429; the code was spent before that 429, so the user, refused,
 * had to ask for another. Now the recipient is counted first and the refused request keeps the code.
 * A refusal that only a write can make, after the code is spent (a racing write takes the data's
 * room: 413), stores the code again (EmailFlows.spentOn).
 */
const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';
const DAY_MS = 24 * 60 * 60 * 1000;
/** The smallest body limit the schema takes: three keys of a third of it fit, four do not. */
const BODY_LIMIT = 4096;
const THIRD = 'x'.repeat(1300);
type Json = Record<string, unknown>;

describe('PUT /user: a 429 on the new address keeps the reauthentication code', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let address = 0;
  before(async () => {
    // Rate limits on (test apps turn them off); the clock stands still, so no window ends mid-test.
    ({ t, sink } = await startMailingApp(
      {
        rateLimits: { recovery: { max: 1, window: 3600 } },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4, requireReauthentication: true },
        bodyLimit: BODY_LIMIT,
      },
      { RESTAUTH_RATE_LIMITS: '' },
      { clockStoppedAt: Date.parse('2026-03-01T12:00:00Z') },
    ));
  });
  after(() => stopMailingApp(t, sink));

  /** Each request from a client of its own: only the recipient's allowance is tested here. */
  async function call(method: 'GET' | 'POST' | 'PUT', path: string, token: string | null, body?: Json) {
    address += 1;
    const res = await t.app.inject({
      method,
      url: `${PREFIX}${path}`,
      ...(body ? { payload: body } : {}),
      remoteAddress: `10.9.0.${address}`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.statusCode, json: res.json<Json>() };
  }

  async function signIn(email: string): Promise<{ access_token: string; refresh_token: string }> {
    await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
    const res = await call('POST', '/token?grant_type=password', null, { email, password: PASSWORD });
    assert.equal(res.status, 200);
    return res.json as { access_token: string; refresh_token: string };
  }

  /** A day-old session of a new account, which needs the mailed code for a new password: its access token. */
  async function dayOldSession(email: string): Promise<string> {
    const { refresh_token } = await signIn(email);
    t.advance(DAY_MS + 1000);
    const refreshed = await call('POST', '/token?grant_type=refresh_token', null, { refresh_token });
    assert.equal(refreshed.status, 200);
    return refreshed.json['access_token'] as string;
  }

  async function mailedNonce(email: string, token: string): Promise<string> {
    const since = sink.mails.length;
    assert.equal((await call('GET', '/reauthenticate', token)).status, 200);
    const nonce = /Your code: (\d{6})/u.exec((await nextMail(sink, email, since)).text)?.[1];
    assert.ok(nonce);
    return nonce;
  }

  async function signsInWith(email: string, password: string): Promise<boolean> {
    return (await call('POST', '/token?grant_type=password', null, { email, password })).status === 200;
  }

  it('refused 429, the same code then changes the password', async () => {
    const token = await dayOldSession('second@acme.test');
    // Another account has the address mailed its allowance (after the clock moved: the window holds).
    const first = await signIn('first@acme.test');
    assert.equal((await call('PUT', '/user', first.access_token, { email: 'wanted@acme.test' })).status, 200);
    const nonce = await mailedNonce('second@acme.test', token);

    const refused = await call('PUT', '/user', token, {
      email: 'wanted@acme.test',
      password: 'a brand new passphrase',
      nonce,
    });
    assert.equal(refused.status, 429);
    const changed = await call('PUT', '/user', token, { password: 'a brand new passphrase', nonce });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
    assert.ok(await signsInWith('second@acme.test', 'a brand new passphrase'));
  });

  it('refused 413 by a write after the code was spent, the same code then changes the password', async () => {
    const email = 'third@acme.test';
    const token = await dayOldSession(email);
    const userId = (await t.services.store.findUserByEmail(email))!.id;
    for (const key of ['a', 'b'])
      assert.equal((await call('PUT', '/user', token, { data: { [key]: THIRD } })).status, 200);
    const nonce = await mailedNonce(email, token);
    // An administrator's key lands once the request has checked the password (same_password), before
    // its data's write: merged again on the fresh data, the request's key is over the bound.
    const addKey = () => t.services.admin.updateUser(LOCAL_CALL, userId, { profile: { x: THIRD } });
    const refused = await commitAfterRead(t.services.store, addKey, ['getPasswordHash'], () =>
      call('PUT', '/user', token, { password: 'a brand new passphrase', nonce, data: { c: THIRD } }),
    );
    assert.equal(refused.status, 413, JSON.stringify(refused.json));
    assert.ok(await signsInWith(email, PASSWORD), 'the refused request changed the password');

    const changed = await call('PUT', '/user', token, { password: 'a brand new passphrase', nonce });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
    assert.ok(await signsInWith(email, 'a brand new passphrase'));
  });

  it('tells no one without the code whether a new password is the current one (no guessing oracle)', async () => {
    const email = 'guessed@acme.test';
    // The holder of a stolen access token, without the mailbox: same_password answered a right guess.
    const token = await dayOldSession(email);
    const answers = async (nonce?: string) =>
      Promise.all(
        [PASSWORD, 'a wrong guess here'].map(async (password) =>
          JSON.stringify(await call('PUT', '/user', token, { password, ...(nonce ? { nonce } : {}) })),
        ),
      );
    const [right, wrong] = await answers();
    assert.equal(right, wrong);
    assert.match(right!, /reauthentication_needed/u);
    const [rightWithBadCode, wrongWithBadCode] = await answers('000000');
    assert.equal(rightWithBadCode, wrongWithBadCode);
    // The code proves the owner: then the same password is refused, and the code is kept.
    const nonce = await mailedNonce(email, token);
    const same = await call('PUT', '/user', token, { password: PASSWORD, nonce });
    assert.equal(same.status, 422, JSON.stringify(same.json));
    assert.equal(same.json['error_code'], 'same_password');
    const changed = await call('PUT', '/user', token, { password: 'a brand new passphrase', nonce });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
  });
});
