import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * A refused account update changes nothing. PUT /user and PUT /admin/users/:id each write several
 * things (metadata, password, address, ban); a part refused after an earlier part was written
 * answered 4xx while that earlier part stayed: a password changed, and every other session ended,
 * under an answer saying the update failed.
 */
const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';
type Json = Record<string, unknown>;

async function call(
  t: TestApp,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  token: string | null,
  body?: Json,
  remoteAddress?: string,
) {
  const res = await t.app.inject({
    method,
    url: `${PREFIX}${path}`,
    ...(body ? { payload: body } : {}),
    ...(remoteAddress ? { remoteAddress } : {}),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.statusCode, json: res.json<Json>() };
}

/** A confirmed account with two sessions: the one that updates, and another that must live on. */
async function account(t: TestApp, email: string) {
  await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
  const signIn = async () => {
    const res = await call(t, 'POST', '/token?grant_type=password', null, { email, password: PASSWORD });
    assert.equal(res.status, 200);
    return res.json as { access_token: string; refresh_token: string; user: { id: string } };
  };
  const updating = await signIn();
  const other = await signIn();
  return { id: updating.user.id, token: updating.access_token, other };
}

/** The account as it was made: its metadata, address, password, confirmation, and its other session. */
async function assertUnchanged(t: TestApp, email: string, other: { access_token: string }) {
  const user = await t.services.store.findUserByEmail(email);
  assert.ok(user, 'the address still names the account');
  assert.deepEqual(user.profile, {}, 'no metadata was written');
  assert.notEqual(user.emailConfirmedAt, null, 'the address is still confirmed');
  assert.equal(user.bannedUntil, null, 'not banned');
  assert.equal((await call(t, 'GET', '/user', other.access_token)).status, 200, 'the other session goes on');
  const signIn = await call(t, 'POST', '/token?grant_type=password', null, { email, password: PASSWORD });
  assert.equal(signIn.status, 200, 'the password is the old one');
}

describe('GoTrue: a refused update changes nothing', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let service: string;
  before(async () => {
    ({ t, sink } = await startMailingApp());
    service = await serviceTokenOf(t);
  });
  after(() => stopMailingApp(t, sink));

  it('PUT /user: a new password with a taken address is refused, and the password stays', async () => {
    await t.services.admin.createUser(LOCAL_CALL, { email: 'taken@acme.test', password: PASSWORD });
    const { token, other } = await account(t, 'owner@acme.test');
    const res = await call(t, 'PUT', '/user', token, {
      password: 'a brand new passphrase',
      email: 'taken@acme.test',
      data: { nickname: 'x' },
    });
    assert.equal(res.status, 422);
    assert.equal(res.json['error_code'], 'email_exists');
    await assertUnchanged(t, 'owner@acme.test', other);
  });

  it('PUT /user: metadata with a weak or the same password is refused whole', async () => {
    const { token, other } = await account(t, 'weak@acme.test');
    const weak = await call(t, 'PUT', '/user', token, { data: { nickname: 'x' }, password: 'short' });
    assert.equal(weak.status, 422);
    assert.equal(weak.json['error_code'], 'weak_password');
    const same = await call(t, 'PUT', '/user', token, { data: { nickname: 'x' }, password: PASSWORD });
    assert.equal(same.status, 422);
    assert.equal(same.json['error_code'], 'same_password');
    await assertUnchanged(t, 'weak@acme.test', other);
  });

  it('PUT /user: metadata with a malformed address is refused whole', async () => {
    const { token, other } = await account(t, 'malformed@acme.test');
    const res = await call(t, 'PUT', '/user', token, {
      data: { nickname: 'x' },
      password: 'a brand new passphrase',
      email: 'not an address',
    });
    assert.equal(res.status, 400);
    await assertUnchanged(t, 'malformed@acme.test', other);
  });

  it('PUT /admin/users/:id: an address, a ban and metadata with a weak password are refused whole', async () => {
    const { id, other } = await account(t, 'admin-target@acme.test');
    const res = await call(t, 'PUT', `/admin/users/${id}`, service, {
      email: 'moved@acme.test',
      ban_duration: '24h',
      user_metadata: { nickname: 'x' },
      password: 'short',
    });
    assert.equal(res.status, 422);
    assert.equal(res.json['error_code'], 'weak_password');
    assert.equal(await t.services.store.findUserByEmail('moved@acme.test'), null, 'the address did not move');
    await assertUnchanged(t, 'admin-target@acme.test', other);
  });

  it("PUT /user: app_metadata is the administrator's (403 not_admin) and a phone is refused, nothing written", async () => {
    const { token, other } = await account(t, 'own-claims@acme.test');
    const claims = await call(t, 'PUT', '/user', token, {
      data: { nickname: 'x' },
      app_metadata: { role: 'admin', plan: 'premium' },
    });
    // GoTrue's answer: a 200 said the app_metadata (which RLS policies trust) was written.
    assert.equal(claims.status, 403);
    assert.equal(claims.json['error_code'], 'not_admin');
    assert.equal(claims.json['msg'], 'Updating app_metadata requires admin privileges');
    const phone = await call(t, 'PUT', '/user', token, { data: { nickname: 'x' }, phone: '+15555550100' });
    assert.equal(phone.status, 400);
    assert.equal(phone.json['error_code'], 'phone_provider_disabled');
    await assertUnchanged(t, 'own-claims@acme.test', other);
    const user = await t.services.store.findUserByEmail('own-claims@acme.test');
    assert.equal(user?.appMetadata['role'], undefined);
  });

  it('the admin API refuses the GoTrue fields restauth does not write (400), creating and changing nothing', async () => {
    const { id, other } = await account(t, 'admin-fields@acme.test');
    for (const [field, value] of [
      ['password_hash', '$2a$10$abcdefghijklmnopqrstuu5Ge4NbuhkSOJOOyo7kSPc2h1fO3IOZm'],
      ['role', 'service_role'],
      ['aud', 'another-audience'],
      ['id', '00000000-0000-4000-8000-000000000001'],
      ['phone', '+15555550100'],
      ['phone_confirm', true],
    ] as const) {
      const update = await call(t, 'PUT', `/admin/users/${id}`, service, {
        user_metadata: { nickname: 'x' },
        [field]: value,
      });
      assert.equal(update.status, 400, field);
      assert.equal(update.json['error_code'], 'validation_failed', field);
      assert.match(
        String(update.json['msg']),
        new RegExp(`does not support ${field} in the admin API`),
        field,
      );
      const create = await call(t, 'POST', '/admin/users', service, {
        email: `imported.${field}@acme.test`,
        [field]: value,
      });
      assert.equal(create.status, 400, field);
      assert.equal(await t.services.store.findUserByEmail(`imported.${field}@acme.test`), null, field);
    }
    await assertUnchanged(t, 'admin-fields@acme.test', other);
  });
});

describe("GoTrue: an address change over its recipient's allowance changes nothing", () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => {
    // Rate limits on (test apps turn them off); a window of an hour outlasts any slow machine's run.
    ({ t, sink } = await startMailingApp(
      { rateLimits: { recovery: { max: 1, window: 3600 } } },
      { RESTAUTH_RATE_LIMITS: '' },
    ));
  });
  after(() => stopMailingApp(t, sink));

  it('PUT /user: metadata and a new password with an address mailed its allowance: 429, nothing written', async () => {
    const first = await account(t, 'first@acme.test');
    const mailed = await call(t, 'PUT', '/user', first.token, { email: 'wanted@acme.test' }, '10.8.0.1');
    assert.equal(mailed.status, 200, 'the address is mailed its allowance');
    const { token, other } = await account(t, 'second@acme.test');
    const res = await call(
      t,
      'PUT',
      '/user',
      token,
      { email: 'wanted@acme.test', data: { nickname: 'x' }, password: 'a brand new passphrase' },
      '10.8.0.2',
    );
    assert.equal(res.status, 429);
    assert.equal(res.json['error_code'], 'over_request_rate_limit');
    await assertUnchanged(t, 'second@acme.test', other);
  });
});
