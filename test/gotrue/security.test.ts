import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT, UnsecuredJWT } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { serviceTokenOf } from '../support/service-token.js';

/** Attempts to break the GoTrue dialect: enumeration, throttles, limits, forged tokens, admin access, redirects. */
const PREFIX = '/auth/v1';
type Json = Record<string, unknown>;

async function call(t: TestApp, method: 'GET' | 'POST' | 'PUT', path: string, body?: Json, token?: string) {
  const res = await t.app.inject({
    method,
    url: `${PREFIX}${path}`,
    ...(body ? { payload: body } : {}),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: res.statusCode,
    json: res.body ? (JSON.parse(res.body) as Json) : {},
    headers: res.headers,
  };
}

describe('GoTrue dialect: enumeration and mail throttling', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => ({ t, sink } = await startMailingApp()));
  after(() => stopMailingApp(t, sink));

  it('signing up a taken, confirmed address answers exactly like a new sign-up', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'taken@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const fresh = await call(t, 'POST', '/signup', {
      email: 'fresh@acme.test',
      password: 'a long passphrase',
    });
    const taken = await call(t, 'POST', '/signup', {
      email: 'taken@acme.test',
      password: 'another passphrase',
    });
    assert.equal(fresh.status, 200);
    assert.equal(taken.status, fresh.status);
    assert.deepEqual(Object.keys(taken.json).sort(), Object.keys(fresh.json).sort());
    assert.equal(taken.json['email'], 'taken@acme.test');
    assert.notEqual(taken.json['id'], (await t.services.store.findUserByEmail('taken@acme.test'))?.id);
    const signIn = await call(t, 'POST', '/token?grant_type=password', {
      email: 'taken@acme.test',
      password: 'another passphrase',
    });
    assert.equal(signIn.status, 400, 'the second sign-up changed nothing');
  });

  it('recovering an unknown address answers like a known one, and mails nobody', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'known@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const known = await call(t, 'POST', '/recover', { email: 'known@acme.test' });
    const unknown = await call(t, 'POST', '/recover', { email: 'unknown@acme.test' });
    assert.deepEqual([known.status, known.json], [200, {}]);
    assert.deepEqual([unknown.status, unknown.json], [200, {}]);
    await sink.waitForMail((mail) => mail.to === 'known@acme.test', 5000);
    assert.equal(sink.mails.filter((mail) => mail.to === 'unknown@acme.test').length, 0);
  });

  it('a second recovery mail within the resend interval is not sent, and the answer is the same', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'twice@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const first = await call(t, 'POST', '/recover', { email: 'twice@acme.test' });
    const mail = await sink.waitForMail((m) => m.to === 'twice@acme.test', 5000);
    const second = await call(t, 'POST', '/recover', { email: 'twice@acme.test' });
    assert.deepEqual([first.status, second.status], [200, 200]);
    // Every mail work begun by the answers has run and the worker has sent what it was handed.
    await t.services.idle();
    assert.equal(sink.mails.filter((m) => m.to === 'twice@acme.test').length, 1);
    // The first mail's code still works: the throttled request did not replace it.
    const { code } = secretsOf(mail);
    const verified = await call(t, 'POST', '/verify', {
      type: 'recovery',
      email: 'twice@acme.test',
      token: code,
    });
    assert.equal(verified.status, 200);
  });

  it('opening a mailed link (GET) spends nothing: a scanner cannot use it up', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'scan@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    await call(t, 'POST', '/recover', { email: 'scan@acme.test' });
    const { link } = secretsOf(await sink.waitForMail((m) => m.to === 'scan@acme.test', 5000));
    const path = new URL(link).pathname + new URL(link).search;
    for (let i = 0; i < 3; i++) {
      const opened = await t.app.inject({ method: 'GET', url: path });
      assert.equal(opened.statusCode, 200);
      assert.match(opened.headers['content-security-policy'] as string, /default-src 'none'/u);
    }
    const token = new URL(link).searchParams.get('token')!;
    const verified = await call(t, 'POST', '/verify', { type: 'recovery', token_hash: token });
    assert.equal(verified.status, 200);
    const again = await call(t, 'POST', '/verify', { type: 'recovery', token_hash: token });
    assert.deepEqual([again.status, again.json['error_code']], [403, 'otp_expired']);
  });

  it('a 6-digit code is bound to its address: the right code with another address fails', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'own@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    await call(t, 'POST', '/otp', { email: 'own@acme.test', create_user: false });
    const { code } = secretsOf(await sink.waitForMail((m) => m.to === 'own@acme.test', 5000));
    const wrong = await call(t, 'POST', '/verify', {
      type: 'magiclink',
      email: 'known@acme.test',
      token: code,
    });
    assert.equal(wrong.json['error_code'], 'otp_expired');
    const right = await call(t, 'POST', '/verify', {
      type: 'magiclink',
      email: 'own@acme.test',
      token: code,
    });
    assert.equal(right.status, 200);
  });

  it('redirect_to outside the allow-list leads to the site URL instead, as GoTrue does, in the query or the body', async () => {
    const targets = ['https://evil.test/', 'javascript:alert(1)'];
    for (const [index, target] of targets.entries()) {
      const email = `redirect${index}@acme.test`;
      await t.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'a long passphrase',
        emailConfirm: true,
      });
      const since = sink.mails.length;
      const inQuery = await call(t, 'POST', `/recover?redirect_to=${encodeURIComponent(target)}`, { email });
      assert.deepEqual([inQuery.status, inQuery.json], [200, {}]);
      const { link } = secretsOf(
        await sink.waitForMail((m) => m.to === email && sink.mails.indexOf(m) >= since, 5000),
      );
      assert.equal(new URL(link).searchParams.get('redirect_to'), null, link);
      const other = `body-${email}`;
      await t.services.admin.createUser(LOCAL_CALL, {
        email: other,
        password: 'a long passphrase',
        emailConfirm: true,
      });
      const inBody = await call(t, 'POST', '/recover', { email: other, redirect_to: target });
      assert.deepEqual([inBody.status, inBody.json], [200, {}]);
      const mail = await sink.waitForMail((m) => m.to === other, 5000);
      assert.equal(new URL(secretsOf(mail).link).searchParams.get('redirect_to'), null);
    }
  });
});

describe('GoTrue dialect: redirects refused when configured', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(
    async () =>
      ({ t, sink } = await startMailingApp({
        siteUrl: 'https://app.acme.test',
        refuseDisallowedRedirects: true,
      })),
  );
  after(() => stopMailingApp(t, sink));

  it('an allowed redirect_to in the body is carried by the link; one not allowed is refused', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'r@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const allowed = await call(t, 'POST', '/recover', {
      email: 'r@acme.test',
      redirect_to: 'https://app.acme.test/reset',
    });
    assert.equal(allowed.status, 200);
    const mail = await sink.waitForMail((m) => m.to === 'r@acme.test', 5000);
    assert.equal(
      new URL(secretsOf(mail).link).searchParams.get('redirect_to'),
      'https://app.acme.test/reset',
    );
    const refused = await call(t, 'POST', '/recover?redirect_to=https%3A%2F%2Fevil.test%2F', {
      email: 'r@acme.test',
    });
    assert.deepEqual(
      [refused.status, refused.json['error_code'], refused.json['msg']],
      [400, 'validation_failed', 'redirect_to is not an allowed address'],
    );
  });
});

describe('GoTrue dialect: rate limits', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        rateLimits: {
          signIn: { max: 3, window: 60 },
          recovery: { max: 2, window: 60 },
          verify: { max: 4, window: 60 },
        },
      },
      env: { RESTAUTH_RATE_LIMITS: '' },
      // The windows end only when the test advances the clock, not when a slow machine takes 60 s.
      clockStoppedAt: Date.now(),
    });
  });
  after(() => t.close());

  it('trip with 429, Retry-After and over_request_rate_limit, per family, and reset after the window', async () => {
    const attempt = () =>
      call(t, 'POST', '/token?grant_type=password', { email: 'x@acme.test', password: 'wrong password' });
    for (let i = 0; i < 3; i++) assert.equal((await attempt()).status, 400);
    const limited = await attempt();
    assert.equal(limited.status, 429);
    assert.equal(limited.json['error_code'], 'over_request_rate_limit');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    // Another family still has its own allowance.
    assert.equal((await call(t, 'POST', '/recover', { email: 'x@acme.test' })).status, 200);
    t.advance(61_000);
    assert.equal((await attempt()).status, 400, 'a new window');
  });

  it('guesses at one address’s code are limited per address, whatever client sends them', async () => {
    const guess = (client: string) =>
      t.app.inject({
        method: 'POST',
        url: `${PREFIX}/verify`,
        payload: { type: 'recovery', email: 'target@acme.test', token: '000000' },
        remoteAddress: client,
      });
    // Each guess from a different client address: the per-client limit never trips.
    for (let i = 0; i < 4; i++) assert.equal((await guess(`10.0.0.${i}`)).statusCode, 403);
    const limited = await guess('10.0.0.99');
    assert.equal(limited.statusCode, 429);
    assert.equal((JSON.parse(limited.body) as Json)['error_code'], 'over_request_rate_limit');
  });
});

describe('GoTrue dialect: tokens that must be refused', () => {
  let t: TestApp;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let genuine: string;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        jwt: { keys: [{ kid: 'main', alg: 'RS256', privateKey: privatePem }] },
      },
    });
    const signUp = await call(t, 'POST', '/signup', {
      email: 'tok@acme.test',
      password: 'a long passphrase',
    });
    genuine = signUp.json['access_token'] as string;
  });
  after(() => t.close());

  it('a genuine token reads the user; JWKS publishes the public key only', async () => {
    assert.equal((await call(t, 'GET', '/user', undefined, genuine)).status, 200);
    const jwks = await call(t, 'GET', '/.well-known/jwks.json');
    const keys = jwks.json['keys'] as Json[];
    assert.deepEqual(
      keys.map((key) => [key['kid'], key['alg'], 'd' in key]),
      [['main', 'RS256', false]],
    );
  });

  it('refuses a token signed with another key, HS256 with the public key, alg none, expired, not yet valid', async () => {
    const claims = decodeJwt(genuine);
    const now = Math.floor(Date.now() / 1000);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = {
      'another key': await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'main' })
        .sign(stranger),
      'HS256 with the public key': await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: 'main' })
        .sign(new TextEncoder().encode(publicPem)),
      'alg none': new UnsecuredJWT(claims).encode(),
      expired: await new SignJWT({ ...claims, iat: now - 7200, exp: now - 3600 })
        .setProtectedHeader({ alg: 'RS256', kid: 'main' })
        .sign(rsa.privateKey),
      'not yet valid': await new SignJWT({ ...claims, nbf: now + 3600 })
        .setProtectedHeader({ alg: 'RS256', kid: 'main' })
        .sign(rsa.privateKey),
    };
    for (const [name, token] of Object.entries(forged)) {
      const res = await call(t, 'GET', '/user', undefined, token);
      assert.deepEqual([res.status, res.json['error_code']], [403, 'bad_jwt'], name);
    }
  });

  it('admin routes: 401 without a token, 403 with a user token, 200 with a service-role token', async () => {
    assert.equal((await call(t, 'GET', '/admin/users')).status, 401);
    assert.equal((await call(t, 'GET', '/admin/users', undefined, genuine)).status, 403);
    const service = await serviceTokenOf(t);
    assert.equal((await call(t, 'GET', '/admin/users', undefined, service)).status, 200);
  });

  it('a signed-out session’s access token is refused by GET /user', async () => {
    const signIn = await call(t, 'POST', '/token?grant_type=password', {
      email: 'tok@acme.test',
      password: 'a long passphrase',
    });
    const token = signIn.json['access_token'] as string;
    assert.equal((await call(t, 'POST', '/logout?scope=local', undefined, token)).status, 204);
    const res = await call(t, 'GET', '/user', undefined, token);
    assert.deepEqual([res.status, res.json['error_code']], [403, 'session_not_found']);
  });

  it('the audit log records sign-ins, failures, logouts and admin actions, with the client address', async () => {
    await call(t, 'POST', '/token?grant_type=password', { email: 'tok@acme.test', password: 'wrong!' });
    const service = await serviceTokenOf(t);
    const listed = await call(t, 'GET', '/admin/audit?per_page=100', undefined, service);
    assert.equal(listed.status, 200);
    const entries = listed.json as unknown as Array<{ ip_address: string; payload: { action: string } }>;
    const actions = entries.map((entry) => entry.payload.action);
    for (const action of ['sign_up', 'sign_in', 'sign_in_failed', 'logout'])
      assert.ok(actions.includes(action), action);
    assert.equal(entries[0]?.payload.action, 'sign_in_failed', 'newest first');
    assert.equal(entries[0]?.ip_address, '127.0.0.1');
  });
});

describe('GoTrue dialect: malformed input gets a 4xx, never a 500', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING },
    });
  });
  after(() => t.close());

  it('answers every malformed body with a 4xx in GoTrue shape', async () => {
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/verify', { type: 5, token: '123456', email: 'a@b.c' }],
      ['POST', '/verify', { password: 'x' }],
      ['POST', '/verify', { type: 'recovery' }],
      ['POST', '/verify', { type: 'nonsense', token_hash: 'x' }],
      ['POST', '/verify', [1, 2]],
      ['POST', '/signup', { email: 'a@b.c' }],
      ['POST', '/signup', { email: 'not an address', password: 'a long passphrase' }],
      ['POST', '/signup', { email: 'a@b.c', password: 'a long passphrase', data: 'x' }],
      ['POST', '/token?grant_type=magic', { email: 'a@b.c', password: 'x' }],
      ['POST', '/token?grant_type=password', { email: 'a@b.c' }],
      ['POST', '/token?grant_type=refresh_token', { refresh_token: 7 }],
      ['POST', '/recover', { email: ['a@b.c'] }],
      ['POST', '/otp', { email: 'a@b.c', create_user: 'yes' }],
      ['POST', '/resend', { email: 'a@b.c', type: 'recovery' }],
      ['POST', '/logout?scope=everyone', undefined],
      ['GET', '/verify?token=x', undefined],
    ];
    for (const [method, path, body] of cases) {
      const res = await t.app.inject({
        method: method as 'GET' | 'POST',
        url: `${PREFIX}${path}`,
        ...(body !== undefined
          ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
          : {}),
      });
      assert.ok(
        res.statusCode >= 400 && res.statusCode < 500,
        `${method} ${path} ${JSON.stringify(body)}: ${res.statusCode}`,
      );
      if (res.headers['content-type']?.toString().startsWith('application/json')) {
        const json = JSON.parse(res.body) as Json;
        assert.equal(typeof json['error_code'], 'string', `${path}: ${res.body}`);
      }
    }
    const bad = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/signup`,
      payload: '{"email": ',
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual([bad.statusCode, (JSON.parse(bad.body) as Json)['error_code']], [400, 'bad_json']);
  });
});
