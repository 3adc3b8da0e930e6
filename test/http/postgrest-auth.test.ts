import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';

type Json = Record<string, unknown>;

async function post(app: FastifyInstance, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: 'POST',
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: response.statusCode, json: response.json() as Json, text: response.body };
}

/**
 * The postgrest-auth dialect, every endpoint and error, on both stores. Mail
 * goes over real SMTP to an in-process sink.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`postgrest-auth dialect (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    before(async () => {
      sink = await startSmtpSink();
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          appName: 'A Game of Theories',
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          dialects: { postgrestAuth: { payload: { iss: 'https://agameoftheories.com' } } },
          // postgrest-auth never confirmed addresses (a postgrest-auth.json config turns this off by itself).
          signup: { confirmEmail: false },
          email: sinkMailSettings(sink, 'contact@agameoftheories.com'),
        },
      });
    });
    after(async () => {
      await t.close();
      await sink.close();
      await store.drop();
    });

    it('POST /auth/users → 201 with an access token carrying the payload, role, real count and a jti', async () => {
      const res = await post(t.app, '/auth/users', {
        username: 'Theorist1',
        password: 'a real passphrase',
        email: 'Theo@Example.com',
      });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(Object.keys(res.json), ['access_token']);
      const claims = decodeJwt(res.json.access_token as string);
      assert.equal(claims.iss, 'https://agameoftheories.com');
      assert.equal(claims.count, 0);
      assert.equal(typeof claims.jti, 'string');
      assert.equal(typeof claims.role, 'string');
      const welcome = await sink.waitForMail((m) => m.to === 'theo@example.com', 5000);
      assert.match(welcome.subject, /Welcome/);
      assert.match(welcome.text, /Theorist1/);
      assert.match(welcome.text, /A Game of Theories/);
    });

    it('refuses bad user names and a taken one (case-insensitively) with 400 JSON', async () => {
      for (const username of ['ab', 'has space', 'x'.repeat(21), 'théo']) {
        const res = await post(t.app, '/auth/users', { username, password: 'a real passphrase' });
        assert.equal(res.status, 400, username);
        assert.equal(res.json.status, 400);
        assert.equal(res.json.statusText, 'Bad Request');
      }
      const taken = await post(t.app, '/auth/users', {
        username: 'theorist1',
        password: 'a real passphrase',
      });
      assert.equal(taken.status, 400);
    });

    it('refresh_token: by credentials, by bearer token, and neither', async () => {
      const byCredentials = await post(t.app, '/auth/refresh_token', {
        username: 'Theorist1',
        password: 'a real passphrase',
      });
      assert.equal(byCredentials.status, 200, byCredentials.text);
      const token = byCredentials.json.access_token as string;
      const byBearer = await post(t.app, '/auth/refresh_token', undefined, {
        authorization: `Bearer ${token}`,
      });
      assert.equal(byBearer.status, 200, byBearer.text);
      assert.notEqual(byBearer.json.access_token, token);
      const neither = await post(t.app, '/auth/refresh_token');
      assert.equal(neither.status, 400);
      assert.equal(neither.json.message, 'Require username and password or access_token');
      const wrong = await post(t.app, '/auth/refresh_token', { username: 'Theorist1', password: 'nope' });
      assert.equal(wrong.status, 400);
    });

    it('change_password with current_password bumps the count: every older token is refused', async () => {
      const before = await post(t.app, '/auth/refresh_token', {
        username: 'Theorist1',
        password: 'a real passphrase',
      });
      const mismatch = await post(t.app, '/auth/change_password', {
        username: 'Theorist1',
        current_password: 'a real passphrase',
        new_password: 'second passphrase',
        new_password_confirm: 'another one',
      });
      assert.equal(mismatch.status, 400);
      const neither = await post(t.app, '/auth/change_password', {
        username: 'Theorist1',
        new_password: 'second passphrase',
        new_password_confirm: 'second passphrase',
      });
      assert.equal(neither.json.message, 'Require current_password or reset_token');
      const changed = await post(t.app, '/auth/change_password', {
        username: 'Theorist1',
        current_password: 'a real passphrase',
        new_password: 'second passphrase',
        new_password_confirm: 'second passphrase',
      });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(decodeJwt(changed.json.access_token as string).count, 1);
      const stale = await post(t.app, '/auth/refresh_token', undefined, {
        authorization: `Bearer ${before.json.access_token}`,
      });
      assert.equal(stale.status, 400);
    });

    it('change_email changes the address (postgrest-auth crashed here)', async () => {
      const res = await post(t.app, '/auth/change_email', {
        username: 'Theorist1',
        password: 'second passphrase',
        email: 'new@example.com',
      });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { message: 'Email changed' });
      const user = await t.services.store.findUserByUsername('theorist1');
      assert.equal(user?.email, 'new@example.com');
      const wrong = await post(t.app, '/auth/change_email', {
        username: 'Theorist1',
        password: 'bad',
        email: 'x@example.com',
      });
      assert.equal(wrong.status, 400);
    });

    it('forgot_password mails a reset token that changes the password once and only once', async () => {
      const res = await post(t.app, '/auth/forgot_password', { username: 'Theorist1' });
      assert.deepEqual([res.status, res.json], [200, { message: 'Password reset email sent' }]);
      const mail = await sink.waitForMail(
        (m) => m.to === 'new@example.com' && /reset/i.test(m.subject),
        5000,
      );
      const token =
        /reset_token[^A-Za-z0-9_-]+([A-Za-z0-9_-]{20,})/.exec(mail.text)?.[1] ??
        // Bounded by the token alphabet, not \b: a token may start or end with '-'.
        /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/.exec(mail.text)?.[1];
      assert.ok(token, `no token in: ${mail.text}`);
      const body = {
        username: 'Theorist1',
        reset_token: token,
        new_password: 'third passphrase',
        new_password_confirm: 'third passphrase',
      };
      const [first, second] = await Promise.all([
        post(t.app, '/auth/change_password', body),
        post(t.app, '/auth/change_password', body),
      ]);
      assert.deepEqual([first.status, second.status].sort(), [200, 400]);
      const again = await post(t.app, '/auth/change_password', body);
      assert.equal(again.status, 400);
      assert.equal(
        (await post(t.app, '/auth/refresh_token', { username: 'Theorist1', password: 'third passphrase' }))
          .status,
        200,
      );
    });

    it('forgot_password mails once per resend interval through the one recovery token, whose code works once as reset_token for the account named only', async () => {
      for (const [username, email] of [
        ['Coder1', 'coder@example.com'],
        ['Other1', 'other@example.com'],
      ]) {
        const res = await post(t.app, '/auth/users', { username, password: 'a coder passphrase', email });
        assert.equal(res.status, 201, res.text);
      }
      const first = await post(t.app, '/auth/forgot_password', { username: 'Coder1' });
      const again = await post(t.app, '/auth/forgot_password', { username: 'coder@example.com' });
      assert.deepEqual([again.status, again.json], [first.status, first.json]);
      await t.services.idle();
      const mails = sink.mails.filter((m) => m.to === 'coder@example.com' && /reset/i.test(m.subject));
      assert.equal(mails.length, 1, 'a second reset mail within oneTimeTokens.resendInterval');
      const code = /Your code: (\d{6})/.exec(mails[0]!.text)?.[1];
      assert.ok(code, `no code in: ${mails[0]!.text}`);
      const reset = (username: string, resetToken: string) =>
        post(t.app, '/auth/change_password', {
          username,
          reset_token: resetToken,
          new_password: 'a new coder passphrase',
          new_password_confirm: 'a new coder passphrase',
        });
      // A code is bound to the address it was mailed to: with another account named it finds nothing.
      assert.equal((await reset('Other1', code)).status, 400);
      assert.equal((await reset('Coder1', code === '000000' ? '000001' : '000000')).status, 400);
      const changed = await reset('Coder1', code);
      assert.equal(changed.status, 200, changed.text);
      assert.equal((await reset('Coder1', code)).status, 400);
      const signIn = await post(t.app, '/auth/refresh_token', {
        username: 'Coder1',
        password: 'a new coder passphrase',
      });
      assert.equal(signIn.status, 200);
      const other = await post(t.app, '/auth/refresh_token', {
        username: 'Other1',
        password: 'a coder passphrase',
      });
      assert.equal(other.status, 200);
    });

    it('forgot_password and forgot_username answer the same for unknown accounts, and send nothing', async () => {
      const before = sink.mails.length;
      const known = await post(t.app, '/auth/forgot_username', { email: 'new@example.com' });
      const unknown = await post(t.app, '/auth/forgot_username', { email: 'nobody@example.com' });
      assert.deepEqual([unknown.status, unknown.json], [known.status, known.json]);
      assert.deepEqual(known.json, { message: 'Username Email sent' });
      const reminder = await sink.waitForMail(
        (m) => m.to === 'new@example.com' && /username/i.test(m.subject),
        5000,
      );
      assert.match(reminder.text, /Theorist1/);
      // Throttled per account as every mail: asked again at once, the same answer and no second mail.
      const again = await post(t.app, '/auth/forgot_username', { email: 'new@example.com' });
      assert.deepEqual([again.status, again.json], [known.status, known.json]);
      const unknownReset = await post(t.app, '/auth/forgot_password', { username: 'nobody' });
      assert.deepEqual(
        [unknownReset.status, unknownReset.json],
        [200, { message: 'Password reset email sent' }],
      );
      // Every mail work begun by the answers has run and the worker has sent what it was handed.
      await t.services.idle();
      assert.equal(sink.mails.filter((m) => m.to === 'nobody@example.com').length, 0);
      assert.equal(sink.mails.length, before + 1);
    });

    it('accepts urlencoded bodies, as postgrest-auth did', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/users',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'username=formuser&password=form+passphrase',
      });
      assert.equal(res.statusCode, 201, res.body);
    });
  });
}
