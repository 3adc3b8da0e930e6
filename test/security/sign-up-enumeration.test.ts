import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * Where addresses must be confirmed (restauth.json with mail), GoTrue's sign-up answers a taken
 * address like a new one, so that nobody learns who has an account. The sign-ups of the dialects
 * mounted beside it (json-data-server, json-server-auth, postgrest-auth) answered a new address
 * 400 "Email not confirmed" (8a305ec) but a taken one "already registered": any stranger could ask
 * them whether an address has an account, whatever GoTrue hid. Now each answers a taken address,
 * confirmed or not, exactly as a new one, after the same work (the password hashed, the account's
 * write waited out), and the taken account is left as it was.
 */

const OWNER_PASSWORD = 'owner passphrase 1';
const PROBE_PASSWORD = 'probe passphrase 1';

interface SignUp {
  dialect: string;
  request: (email: string, serial: number) => { url: string; payload: Record<string, unknown> };
}

const SIGN_UPS: SignUp[] = [
  {
    dialect: 'json-data-server, a name and an address',
    request: (email, serial) => ({
      url: '/auth/register',
      payload: { username: `probe${serial}`, email, password: PROBE_PASSWORD },
    }),
  },
  {
    dialect: 'json-data-server, the address as the login',
    request: (email) => ({ url: '/auth/register', payload: { username: email, password: PROBE_PASSWORD } }),
  },
  {
    dialect: 'json-server-auth',
    request: (email) => ({ url: '/register', payload: { email, password: PROBE_PASSWORD } }),
  },
  {
    dialect: 'postgrest-auth',
    request: (email, serial) => ({
      url: '/auth/users',
      payload: { username: `probePga${serial}`, email, password: PROBE_PASSWORD },
    }),
  },
];

describe('a sign-up in any dialect does not tell whether an address has an account', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let serial = 0;

  before(async () => {
    ({ t, sink } = await startMailingApp({
      dialects: { gotrue: {}, jsonDataServer: {}, jsonServerAuth: { enabled: true }, postgrestAuth: {} },
    }));
  });
  after(() => stopMailingApp(t, sink));

  /** An account of `email` signed up through GoTrue, confirmed by its mailed link when asked. */
  async function ownerOf(email: string, confirmed: boolean): Promise<void> {
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email, password: OWNER_PASSWORD },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    if (!confirmed) return;
    const mail = await sink.waitForMail((m) => m.to === email && /Confirm your email/u.test(m.subject), 5000);
    const link = new URL(secretsOf(mail).link);
    const verified = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/verify',
      payload: { type: 'signup', token_hash: link.searchParams.get('token') },
    });
    assert.equal(verified.statusCode, 200, verified.body);
  }

  async function ownerSignsIn(email: string): Promise<number> {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email, password: OWNER_PASSWORD },
    });
    return res.statusCode;
  }

  for (const signUp of SIGN_UPS) {
    it(`${signUp.dialect}: a confirmed, an unconfirmed and a new address get one answer`, async () => {
      const tag = ++serial;
      const confirmed = `confirmed${tag}@acme.test`;
      const unconfirmed = `unconfirmed${tag}@acme.test`;
      await ownerOf(confirmed, true);
      await ownerOf(unconfirmed, false);

      const answers = new Map<string, string>();
      for (const email of [`new${tag}@acme.test`, confirmed, unconfirmed]) {
        const { url, payload } = signUp.request(email, ++serial);
        const res = await t.app.inject({ method: 'POST', url, payload });
        answers.set(email, `${res.statusCode} ${res.body}`);
      }
      const [first, ...others] = [...answers.values()];
      for (const [email, answer] of [...answers].slice(1)) {
        assert.equal(answer, first, `${email} answered otherwise than a new address`);
      }
      assert.equal(others.length, 2);
      assert.match(first!, /^400 .*Email not confirmed/u);

      // The taken accounts are as they were: the confirmed owner still signs in with their password.
      assert.equal(await ownerSignsIn(confirmed), 200);
    });
  }
});
