import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestApp } from '../support/app.js';
import { secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * A sign-up in a dialect without confirmation (json-data-server, json-server-auth, postgrest-auth)
 * mounted beside GoTrue with mail, where addresses must be confirmed: an attacker registering the
 * victim's address got a session at once, while every sign-in of that account was refused until
 * the address was confirmed. When the victim then signed up through GoTrue, the confirmation mail
 * confirmed the attacker's account, and the attacker's session read (and wrote) what the victim
 * kept in it. Now such a sign-up gets its account and the confirmation mail, but no session.
 */

const VICTIM_PASSWORD = 'victim passphrase';
const ATTACKER_PASSWORD = 'attacker passphrase';

interface Registration {
  dialect: string;
  victim: string;
  /** The attacker's sign-up naming the victim's address. */
  request: (email: string) => { url: string; payload: Record<string, unknown> };
  /** The dialect's answer for "Email not confirmed", as its sign-in answers it. */
  refusal: RegExp;
  /** Its password change by the current password, which answers a session too (none in json-server-auth). */
  passwordChange?: (email: string) => { url: string; payload: Record<string, unknown> };
}

const REGISTRATIONS: Registration[] = [
  {
    dialect: 'json-data-server',
    victim: 'jds-victim@acme.test',
    request: (email) => ({
      url: '/auth/register',
      payload: { username: 'mallory', email, password: ATTACKER_PASSWORD },
    }),
    refusal: /^Email not confirmed$/u,
    passwordChange: () => ({
      url: '/auth/password',
      payload: { username: 'mallory', password: ATTACKER_PASSWORD, newpassword: 'another passphrase' },
    }),
  },
  {
    dialect: 'json-data-server, the address as the login',
    victim: 'jds-login-victim@acme.test',
    request: (email) => ({
      url: '/auth/register',
      payload: { username: email, password: ATTACKER_PASSWORD },
    }),
    refusal: /^Email not confirmed$/u,
    passwordChange: (email) => ({
      url: '/auth/password',
      payload: { username: email, password: ATTACKER_PASSWORD, newpassword: 'another passphrase' },
    }),
  },
  {
    dialect: 'json-server-auth',
    victim: 'jsa-victim@acme.test',
    request: (email) => ({ url: '/register', payload: { email, password: ATTACKER_PASSWORD } }),
    refusal: /^"Email not confirmed"$/u,
  },
  {
    dialect: 'postgrest-auth',
    victim: 'pga-victim@acme.test',
    request: (email) => ({
      url: '/auth/users',
      payload: { username: 'malloryPga', email, password: ATTACKER_PASSWORD },
    }),
    refusal: /"error":"email_not_confirmed","message":"Email not confirmed"/u,
    passwordChange: () => ({
      url: '/auth/change_password',
      payload: {
        username: 'malloryPga',
        current_password: ATTACKER_PASSWORD,
        new_password: 'another passphrase',
        new_password_confirm: 'another passphrase',
      },
    }),
  },
];

describe('a sign-up without confirmation cannot hold an address that must be confirmed', () => {
  let t: TestApp;
  let sink: SmtpSink;

  before(async () => {
    ({ t, sink } = await startMailingApp({
      dialects: { gotrue: {}, jsonDataServer: {}, jsonServerAuth: { enabled: true }, postgrestAuth: {} },
    }));
  });
  after(() => stopMailingApp(t, sink));

  for (const registration of REGISTRATIONS) {
    it(`${registration.dialect}: no session for the address until its owner confirms it`, async () => {
      const { url, payload } = registration.request(registration.victim);
      const registered = await t.app.inject({ method: 'POST', url, payload });
      assert.equal(registered.statusCode, 400, registered.body);
      assert.match(registered.body, registration.refusal);
      assert.doesNotMatch(registered.body, /eyJ/u, 'no token in the answer');
      if (registration.passwordChange) {
        const change = registration.passwordChange(registration.victim);
        const changed = await t.app.inject({ method: 'POST', ...change });
        assert.equal(changed.statusCode, 400, `${change.url}: ${changed.body}`);
        assert.match(changed.body, registration.refusal, change.url);
        assert.doesNotMatch(changed.body, /eyJ/u, `no token from ${change.url}`);
      }

      // The owner of the mailbox signs up through GoTrue and follows the mailed link.
      const signUp = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: registration.victim, password: VICTIM_PASSWORD },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      const mail = await sink.waitForMail(
        (m) => m.to === registration.victim && /Confirm your email/u.test(m.subject),
        5000,
      );
      const link = new URL(secretsOf(mail).link);
      const verified = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/verify',
        payload: { type: 'signup', token_hash: link.searchParams.get('token') },
      });
      assert.equal(verified.statusCode, 200, verified.body);
      const { access_token: ownerToken, user } = verified.json<{
        access_token: string;
        user: { id: string };
      }>();

      // The account the owner now uses has no session but the one the owner's link opened.
      const sessions = await t.services.store.listSessions(user.id);
      assert.deepEqual(
        sessions.map((session) => session.id),
        [decodeJwt(ownerToken)['session_id']],
      );
    });
  }
});
