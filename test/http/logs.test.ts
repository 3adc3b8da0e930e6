import assert from 'node:assert/strict';
import type { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/http/logging.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { secretsOf } from '../support/gotrue.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';
import { lineSink } from '../support/log-lines.js';
import { serviceTokenOf } from '../support/service-token.js';

type Json = Record<string, unknown>;

/** A log destination keeping every line written to it. */
function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  return { stream: lineSink((line) => lines.push(line)), lines };
}

const JWT_SECRET = 'a-logged-jwt-secret-0123456789-abcdefghij';

/**
 * No secret in any log line: one app mounting every dialect and the data API,
 * logging at trace (everything restauth can log) to a capture, is driven
 * through sign-up, sign-in, refresh, a password reset by code and by token, a
 * magic link, the admin API, the data API with a bearer token and a cookie,
 * and errors carrying secrets (a wrong password, a bad token, broken JSON,
 * tokens in query strings of unknown routes). Every secret the run used is
 * then looked for in every line.
 */
for (const format of ['json', 'pretty', 'json-server'] as const) {
  describe(`logs (${format}): no secret, password, token or code in any line`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    const log = capture();
    const secrets = new Set<string>([JWT_SECRET]);
    /** Six-digit codes: looked for as whole numbers (a timestamp may contain the digits). */
    const codes = new Set<string>();
    let requests = 0;

    async function call(
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
      url: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; json: Json; text: string; headers: Record<string, unknown> }> {
      requests++;
      const response = await t.app.inject({
        method,
        url,
        headers: {
          ...(body === undefined || typeof body === 'string' ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      let json: Json = {};
      try {
        json = response.json();
      } catch {
        // Text answers (json-data-server errors, pages).
      }
      return { status: response.statusCode, json, text: response.body, headers: response.headers };
    }

    const keep = (...values: unknown[]) => {
      for (const value of values) {
        assert.equal(typeof value, 'string', `a secret the run used: ${String(value)}`);
        secrets.add(value as string);
      }
    };

    before(async () => {
      sink = await startSmtpSink();
      t = await createTestApp({
        format: 'restauth',
        config: {
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          email: sinkMailSettings(sink),
          signup: { confirmEmail: false },
          dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: {} },
          data: { rules: { posts: 640 } },
        },
        env: { RESTAUTH_JWT_SECRET: JWT_SECRET },
        files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
        log: createLogger({ level: 'trace', format }, log.stream),
      });
    });
    after(async () => {
      await t.close();
      await sink.close();
    });

    it('GoTrue: sign-up, sign-in, refresh, reuse, user update, recovery by code, magic link, admin, logout', async () => {
      const password = 'gotrue first passphrase';
      keep(password);
      const signUp = await call('POST', '/auth/v1/signup', { email: 'ann@acme.test', password });
      assert.equal(signUp.status, 200, signUp.text);
      keep(signUp.json['access_token'], signUp.json['refresh_token']);

      const wrongPassword = 'gotrue wrong passphrase';
      keep(wrongPassword);
      const refused = await call('POST', '/auth/v1/token?grant_type=password', {
        email: 'ann@acme.test',
        password: wrongPassword,
      });
      assert.equal(refused.status, 400);

      const signIn = await call('POST', '/auth/v1/token?grant_type=password', {
        email: 'ann@acme.test',
        password,
      });
      assert.equal(signIn.status, 200, signIn.text);
      const access = signIn.json['access_token'] as string;
      const refresh = signIn.json['refresh_token'] as string;
      keep(access, refresh);

      const refreshed = await call('POST', '/auth/v1/token?grant_type=refresh_token', {
        refresh_token: refresh,
      });
      assert.equal(refreshed.status, 200, refreshed.text);
      keep(refreshed.json['access_token'], refreshed.json['refresh_token']);

      // The spent token again, past the grace period: a reuse, which ends the session.
      t.advance(60_000);
      const reused = await call('POST', '/auth/v1/token?grant_type=refresh_token', {
        refresh_token: refresh,
      });
      assert.equal(reused.status, 400, reused.text);

      const session = await call('POST', '/auth/v1/token?grant_type=password', {
        email: 'ann@acme.test',
        password,
      });
      const bearer = session.json['access_token'] as string;
      keep(bearer, session.json['refresh_token']);
      const cookie = `sb-access-token=${bearer}; sb-refresh-token=${session.json['refresh_token'] as string}`;
      const user = await call('GET', '/auth/v1/user', undefined, {
        authorization: `Bearer ${bearer}`,
        cookie,
      });
      assert.equal(user.status, 200, user.text);
      const newPassword = 'gotrue second passphrase';
      keep(newPassword);
      const updated = await call(
        'PUT',
        '/auth/v1/user',
        { password: newPassword },
        { authorization: `Bearer ${bearer}` },
      );
      assert.equal(updated.status, 200, updated.text);

      // A forged and a garbage bearer token.
      const forged = `${bearer.slice(0, -4)}AAAA`;
      keep(forged);
      assert.equal(
        (await call('GET', '/auth/v1/user', undefined, { authorization: `Bearer ${forged}` })).status,
        403,
      );

      // Logged out before the recovery and the magic link: where addresses confirm without proof,
      // each ends the account's other sessions.
      const out = await call('POST', '/auth/v1/logout', undefined, { authorization: `Bearer ${bearer}` });
      assert.equal(out.status, 204, out.text);

      // Recovery by the mailed code.
      let since = sink.mails.length;
      assert.equal((await call('POST', '/auth/v1/recover', { email: 'ann@acme.test' })).status, 200);
      await t.services.idle();
      const recovery = secretsOf(
        await sink.waitForMail((m) => sink.mails.indexOf(m) >= since && m.text.includes('Your code:'), 5000),
      );
      codes.add(recovery.code);
      keep(new URL(recovery.link).searchParams.get('token'));
      const wrongCode = String((Number(recovery.code) + 1) % 1_000_000).padStart(6, '0');
      codes.add(wrongCode);
      const guessed = await call('POST', '/auth/v1/verify', {
        type: 'recovery',
        email: 'ann@acme.test',
        token: wrongCode,
      });
      assert.equal(guessed.status, 403, guessed.text);
      const verified = await call('POST', '/auth/v1/verify', {
        type: 'recovery',
        email: 'ann@acme.test',
        token: recovery.code,
      });
      assert.equal(verified.status, 200, verified.text);
      keep(verified.json['access_token'], verified.json['refresh_token']);

      // A magic link, opened (a page) and submitted (the hosted form posts to the link's URL).
      since = sink.mails.length;
      assert.equal((await call('POST', '/auth/v1/otp', { email: 'ann@acme.test' })).status, 200);
      await t.services.idle();
      const magic = secretsOf(
        await sink.waitForMail((m) => sink.mails.indexOf(m) >= since && m.text.includes('Your code:'), 5000),
      );
      codes.add(magic.code);
      const link = new URL(magic.link);
      keep(link.searchParams.get('token'));
      const page = await call('GET', `${link.pathname}${link.search}`);
      assert.equal(page.status, 200, page.text);
      const submitted = await call('POST', `${link.pathname}${link.search}`, '', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      assert.ok([200, 303].includes(submitted.status), submitted.text);

      // The admin API with a service-role token.
      const service = await serviceTokenOf(t);
      keep(service);
      const adminPassword = 'admin chosen passphrase';
      keep(adminPassword);
      const created = await call(
        'POST',
        '/auth/v1/admin/users',
        { email: 'bob@acme.test', password: adminPassword, email_confirm: true },
        { authorization: `Bearer ${service}` },
      );
      assert.equal(created.status, 200, created.text);
      const listed = await call('GET', '/auth/v1/admin/users', undefined, {
        authorization: `Bearer ${service}`,
      });
      assert.equal(listed.status, 200, listed.text);
      const generated = await call(
        'POST',
        '/auth/v1/admin/generate_link',
        { type: 'magiclink', email: 'bob@acme.test' },
        { authorization: `Bearer ${service}` },
      );
      assert.equal(generated.status, 200, generated.text);
      keep(generated.json['hashed_token']);
      codes.add(generated.json['email_otp'] as string);
    });

    it('json-data-server: register, login, refresh, check, password, logout, and the data API by bearer token', async () => {
      const password = 'jds first passphrase';
      const newPassword = 'jds second passphrase';
      keep(password, newPassword);
      const registered = await call('POST', '/auth/register', { username: 'carol', password });
      assert.equal(registered.status, 200, registered.text);
      keep(registered.json['access_token'], registered.json['refresh_token']);
      const login = await call('POST', '/auth/login', { username: 'carol', password });
      const access = login.json['access_token'] as string;
      const refresh = login.json['refresh_token'] as string;
      keep(access, refresh);
      const refreshed = await call('POST', '/auth/refresh', { refresh_token: refresh });
      assert.equal(refreshed.status, 200, refreshed.text);
      keep(refreshed.json['access_token'], refreshed.json['refresh_token']);
      assert.equal((await call('POST', '/auth/check', { access_token: access })).status, 200);

      const posted = await call('POST', '/posts', { title: 'hello' }, { authorization: `Bearer ${access}` });
      assert.equal(posted.status, 201, posted.text);
      const read = await call('GET', `/posts?access_token=${access}`, undefined, {
        authorization: `Bearer ${access}`,
      });
      assert.equal(read.status, 200, read.text);
      assert.equal(
        (await call('GET', '/posts', undefined, { authorization: 'Bearer not-a-token' })).status,
        401,
      );

      const changed = await call('POST', '/auth/password', {
        username: 'carol',
        password,
        newpassword: newPassword,
      });
      assert.equal(changed.status, 200, changed.text);
      keep(changed.json['access_token'], changed.json['refresh_token']);
      const loggedOut = await call('POST', '/auth/logout', { refresh_token: changed.json['refresh_token'] });
      assert.equal(loggedOut.status, 204, loggedOut.text);
    });

    it('postgrest-auth: sign-up, sign-in, bearer refresh, reset by mailed token', async () => {
      const password = 'postgrest first passphrase';
      const newPassword = 'postgrest second passphrase';
      keep(password, newPassword);
      const signedUp = await call('POST', '/auth/users', {
        username: 'dave',
        password,
        email: 'dave@acme.test',
      });
      assert.equal(signedUp.status, 201, signedUp.text);
      const signedIn = await call('POST', '/auth/refresh_token', { username: 'dave', password });
      const access = signedIn.json['access_token'] as string;
      keep(signedUp.json['access_token'], access);
      const renewed = await call('POST', '/auth/refresh_token', undefined, {
        authorization: `Bearer ${access}`,
      });
      assert.equal(renewed.status, 200, renewed.text);
      keep(renewed.json['access_token']);

      const since = sink.mails.length;
      assert.equal((await call('POST', '/auth/forgot_password', { username: 'dave' })).status, 200);
      await t.services.idle();
      const mail = await sink.waitForMail(
        (m) => m.to === 'dave@acme.test' && /reset/iu.test(m.subject) && sink.mails.indexOf(m) >= since,
        5000,
      );
      const token = /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/.exec(mail.text)?.[1];
      assert.ok(token, mail.text);
      keep(token);
      const reset = await call('POST', '/auth/change_password', {
        username: 'dave',
        reset_token: token,
        new_password: newPassword,
        new_password_confirm: newPassword,
      });
      assert.equal(reset.status, 200, reset.text);
      keep(reset.json['access_token']);
    });

    it('errors: broken JSON holding a password, unknown routes with tokens in the query, a huge body', async () => {
      const password = 'password in broken json';
      keep(password);
      const broken = await call(
        'POST',
        '/auth/v1/token?grant_type=password',
        `{"email":"x@acme.test","password":"${password}"`,
        {
          'content-type': 'application/json',
        },
      );
      assert.equal(broken.status, 400, broken.text);
      const queryToken = 'query-token-abcdefghijklmnopqrstuvwxyz-0123';
      keep(queryToken);
      assert.equal(
        (await call('GET', `/nowhere?token=${queryToken}&access_token=${queryToken}`)).status,
        404,
      );
      assert.equal((await call('GET', `/auth/v1/verify?type=signup&token=${queryToken}`)).status, 200);
      const invalid = await call('POST', '/auth/v1/signup', { email: 'not an address', password });
      assert.equal(invalid.status, 400, invalid.text);
    });

    it('no captured line holds any of them; one line per request, its path without the query', async () => {
      await t.services.idle();
      assert.ok(secrets.size > 30, `the run used many secrets (${secrets.size})`);
      assert.ok(codes.size >= 4, 'and codes');
      const leaks: string[] = [];
      for (const line of log.lines) {
        for (const secret of secrets) if (line.includes(secret)) leaks.push(`${secret} in: ${line}`);
        for (const code of codes)
          if (new RegExp(`(?<!\\d)${code}(?!\\d)`, 'u').test(line)) leaks.push(`code ${code} in: ${line}`);
      }
      assert.deepEqual(leaks, []);

      const requestLines = log.lines.filter((line) =>
        // json-server's lines as its logger (morgan's dev format) wrote them: `GET /posts 200 4.2 ms - 245`.
        format === 'json-server'
          ? /^(GET|POST|PUT|PATCH|DELETE) \/\S* \d{3} [\d.]+ ms - (\d+|-)$/u.test(line)
          : /(GET|POST|PUT|PATCH|DELETE) \/\S* \d{3} [\d.]+ms/u.test(line),
      );
      assert.equal(requestLines.length, requests, log.lines.join('\n'));
      assert.ok(
        requestLines.some((line) => /POST \/auth\/v1\/token 200 /u.test(line)),
        'a request line names method, path and status',
      );
      assert.ok(!log.lines.some((line) => line.includes('?')), 'no query string is logged');
      if (format === 'json') {
        const fields = JSON.parse(requestLines[0]!) as Json;
        assert.deepEqual(
          Object.keys(fields).filter((key) => ['method', 'path', 'route', 'status', 'ms'].includes(key))
            .length,
          5,
        );
        assert.equal(fields['level'], 30);
        // Written without the redacting logger (requestLineLogger), with the request's id as request.log has it.
        assert.match(String(fields['reqId']), /^req-/u);
      }
    });
  });
}
