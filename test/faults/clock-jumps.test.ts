import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FAST_HASHING, nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import type { TestApp } from '../support/app.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * The wall clock jumps back: an NTP step after the host ran fast, or one instance on a shared
 * PostgreSQL whose clock is behind another's. What an instance stored was then dated in its future.
 * Each rule that compares a stored date with now must neither open a door (a rotated refresh token
 * within the reuse grace for the whole jump) nor lock a user out for the jump's length (a rate-limit
 * window or the mail throttle reaching past their own length). Over HTTP, on both stores, the
 * auth clock moved by the test app's injected clock.
 */
const PREFIX = '/auth/v1';
const DAY = 24 * 3600 * 1000;
const PASSWORD = 'clock jump passphrase 1';

for (const kind of ['file', 'postgres'] as const) {
  describe(`the clock jumps back a day, ${kind} store`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let drop: () => Promise<void>;
    let serial = 0;

    before(async () => {
      const store = await suiteStore(kind);
      drop = store.drop;
      ({ t, sink } = await startMailingApp(
        {
          passwords: { ...FAST_HASHING, requireReauthentication: true },
          signup: { confirmEmail: false },
          siteUrl: 'https://app.test',
          rateLimits: { signIn: { max: 2, window: 60 } },
          ...store.config,
        },
        { RESTAUTH_RATE_LIMITS: '' },
      ));
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await drop?.();
    });

    async function newUser(): Promise<string> {
      const email = `jumper-${++serial}@corp.test`;
      await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
      return email;
    }

    const post = (url: string, payload: Record<string, unknown>, ip = '10.9.0.1') =>
      t.app.inject({ method: 'POST', url: `${PREFIX}${url}`, payload, remoteAddress: ip });

    it('refuses a refresh token rotated before the jump as reused, and ends its session', async () => {
      const email = await newUser();
      const signedIn = await post('/token?grant_type=password', { email, password: PASSWORD }, '10.9.1.1');
      assert.equal(signedIn.statusCode, 200, signedIn.body);
      const stolen = (signedIn.json() as { refresh_token: string }).refresh_token;
      const rotated = await post('/token?grant_type=refresh_token', { refresh_token: stolen });
      assert.equal(rotated.statusCode, 200, rotated.body);
      const live = (rotated.json() as { refresh_token: string }).refresh_token;

      t.advance(-DAY);
      try {
        // The rotation is dated a day ahead: it must not count as "within the reuse grace".
        const replayed = await post('/token?grant_type=refresh_token', { refresh_token: stolen });
        assert.equal(replayed.statusCode, 400, replayed.body);
        assert.doesNotMatch(replayed.body, new RegExp(live));
        assert.equal((replayed.json() as { error_code: string }).error_code, 'refresh_token_already_used');
        const owner = await post('/token?grant_type=refresh_token', { refresh_token: live });
        assert.equal(owner.statusCode, 400, `the session ended with the reuse: ${owner.body}`);
      } finally {
        t.advance(DAY);
      }
    });

    it('still answers a racing tab within the grace on the same clock', async () => {
      const email = await newUser();
      const signedIn = await post('/token?grant_type=password', { email, password: PASSWORD }, '10.9.1.2');
      const first = (signedIn.json() as { refresh_token: string }).refresh_token;
      const rotated = await post('/token?grant_type=refresh_token', { refresh_token: first });
      assert.equal(rotated.statusCode, 200, rotated.body);
      const racing = await post('/token?grant_type=refresh_token', { refresh_token: first });
      assert.equal(racing.statusCode, 200, racing.body);
    });

    it('asks a session opened before the jump to reauthenticate before a password change', async () => {
      const email = await newUser();
      const signedIn = await post('/token?grant_type=password', { email, password: PASSWORD }, '10.9.1.3');
      assert.equal(signedIn.statusCode, 200, signedIn.body);
      // Two days on, the session is old (a stolen refresh token keeps it alive); then the clock
      // goes back three days: the session is dated a day ahead of now.
      t.advance(2 * DAY);
      const refreshed = await post('/token?grant_type=refresh_token', {
        refresh_token: (signedIn.json() as { refresh_token: string }).refresh_token,
      });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
      t.advance(-3 * DAY);
      try {
        // A fresh access token (the one of two days on is refused as issued ahead of now).
        const again = await post('/token?grant_type=refresh_token', {
          refresh_token: (refreshed.json() as { refresh_token: string }).refresh_token,
        });
        assert.equal(again.statusCode, 200, again.body);
        const changed = await t.app.inject({
          method: 'PUT',
          url: `${PREFIX}/user`,
          headers: { authorization: `Bearer ${(again.json() as { access_token: string }).access_token}` },
          payload: { password: 'a password the thief chose' },
        });
        assert.equal(changed.statusCode, 400, changed.body);
        assert.equal((changed.json() as { error_code: string }).error_code, 'reauthentication_needed');
      } finally {
        t.advance(DAY);
      }
    });

    it('refuses an access token issued before the jump; its refresh token gets a new one', async () => {
      const email = await newUser();
      const signedIn = await post('/token?grant_type=password', { email, password: PASSWORD }, '10.9.1.4');
      const { access_token: early, refresh_token: refreshToken } = signedIn.json() as {
        access_token: string;
        refresh_token: string;
      };
      const getUser = (token: string) =>
        t.app.inject({ method: 'GET', url: `${PREFIX}/user`, headers: { authorization: `Bearer ${token}` } });
      assert.equal((await getUser(early)).statusCode, 200);
      t.advance(-DAY);
      try {
        // An hour's token would otherwise work for a day and an hour.
        const refused = await getUser(early);
        assert.equal(refused.statusCode, 403, refused.body);
        assert.equal((refused.json() as { error_code: string }).error_code, 'bad_jwt');
        const refreshed = await post('/token?grant_type=refresh_token', { refresh_token: refreshToken });
        assert.equal(refreshed.statusCode, 200, refreshed.body);
        const fresh = (refreshed.json() as { access_token: string }).access_token;
        assert.equal((await getUser(fresh)).statusCode, 200);
      } finally {
        t.advance(DAY);
      }
    });

    it('refuses a PKCE auth code issued before the jump (its five minutes would last a day more)', async () => {
      const email = await newUser();
      const verifier = randomBytes(48).toString('base64url');
      const since = sink.mails.length;
      const asked = await post('/otp', {
        email,
        create_user: false,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 's256',
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const { pathname, search } = new URL(secretsOf(await nextMail(sink, email, since)).link);
      const pressed = await t.app.inject({
        method: 'POST',
        url: pathname + search,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: '',
      });
      assert.equal(pressed.statusCode, 303, pressed.body);
      const code = new URL(String(pressed.headers.location)).searchParams.get('code');
      assert.ok(code, String(pressed.headers.location));
      t.advance(-DAY);
      try {
        const exchanged = await post('/token?grant_type=pkce', { auth_code: code, code_verifier: verifier });
        assert.equal(exchanged.statusCode, 422, exchanged.body);
        assert.equal((exchanged.json() as { error_code: string }).error_code, 'flow_state_expired');
      } finally {
        t.advance(DAY);
      }
    });

    it('refuses a recovery code mailed before the jump (an hour would last a day more)', async () => {
      const email = await newUser();
      const since = sink.mails.length;
      assert.equal((await post('/recover', { email })).statusCode, 200);
      await t.services.idle();
      const mail = sink.mails.slice(since).find((m) => m.to === email);
      assert.ok(mail, 'the recovery mail');
      const { code } = secretsOf(mail);
      t.advance(-DAY);
      try {
        const verified = await post('/verify', { type: 'recovery', email, token: code });
        assert.equal(verified.statusCode, 403, verified.body);
        assert.equal((verified.json() as { error_code: string }).error_code, 'otp_expired');
      } finally {
        t.advance(DAY);
      }
    });

    it('does not hold a sign-in rate-limit window open for the length of the jump', async () => {
      const ip = `10.9.2.${kind === 'file' ? 1 : 2}`;
      const wrong = () =>
        post('/token?grant_type=password', { email: 'nobody@corp.test', password: 'x' }, ip);
      assert.equal((await wrong()).statusCode, 400);
      assert.equal((await wrong()).statusCode, 400);
      assert.equal((await wrong()).statusCode, 429);
      t.advance(-DAY);
      try {
        // A new window (of 60 s) starts at the new now, with its own allowance: never a day's wait.
        assert.equal((await wrong()).statusCode, 400);
        assert.equal((await wrong()).statusCode, 400);
        const refused = await wrong();
        assert.equal(refused.statusCode, 429);
        const retryAfter = Number(refused.headers['retry-after']);
        assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      } finally {
        t.advance(DAY);
      }
    });

    it('mails a recovery link requested after the jump (the earlier one, dated ahead, throttles nothing)', async () => {
      const email = await newUser();
      const mailsTo = () => sink.mails.filter((mail) => mail.to === email).length;
      assert.equal((await post('/recover', { email })).statusCode, 200);
      await t.services.idle();
      assert.equal(mailsTo(), 1);
      // Within the throttle on the same clock: answered alike, no second mail.
      assert.equal((await post('/recover', { email })).statusCode, 200);
      await t.services.idle();
      assert.equal(mailsTo(), 1);
      t.advance(-DAY);
      try {
        assert.equal((await post('/recover', { email })).statusCode, 200);
        await t.services.idle();
        assert.equal(mailsTo(), 2, 'a day-old throttle must not swallow the mail for a day');
      } finally {
        t.advance(DAY);
      }
    });
  });
}
