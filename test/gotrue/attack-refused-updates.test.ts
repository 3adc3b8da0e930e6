import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * A refused account update changes nothing. PUT /user and PUT /admin/users/:id each write several
 * things (metadata, password, address, ban); a part refused after an earlier part was written
 * answered 4xx while that earlier part stayed: a password changed, and every other session ended,
 * under an answer saying the update failed.
 */
const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';
type Json = Record<string, unknown>;

describe('GoTrue: a refused update changes nothing', () => {
  let t: TestApp;
  let sink: SmtpSink;
  let service: string;
  before(async () => {
    ({ t, sink } = await startMailingApp());
    service = await t.services.tokens.signRoleToken('service_role', 600, new Date());
  });
  after(() => stopMailingApp(t, sink));

  async function call(method: 'GET' | 'POST' | 'PUT', path: string, token: string | null, body?: Json) {
    const res = await t.app.inject({
      method,
      url: `${PREFIX}${path}`,
      ...(body ? { payload: body } : {}),
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.statusCode, json: res.json<Json>() };
  }

  /** A confirmed account with two sessions: the one that updates, and another that must live on. */
  async function account(email: string) {
    await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
    const signIn = async () => {
      const res = await call('POST', '/token?grant_type=password', null, { email, password: PASSWORD });
      assert.equal(res.status, 200);
      return res.json as { access_token: string; refresh_token: string; user: { id: string } };
    };
    const updating = await signIn();
    const other = await signIn();
    return { id: updating.user.id, token: updating.access_token, other };
  }

  /** The account as it was made: its metadata, address, password, confirmation, and its other session. */
  async function assertUnchanged(email: string, other: { access_token: string }) {
    const user = await t.services.store.findUserByEmail(email);
    assert.ok(user, 'the address still names the account');
    assert.deepEqual(user.profile, {}, 'no metadata was written');
    assert.notEqual(user.emailConfirmedAt, null, 'the address is still confirmed');
    assert.equal(user.bannedUntil, null, 'not banned');
    assert.equal((await call('GET', '/user', other.access_token)).status, 200, 'the other session goes on');
    const signIn = await call('POST', '/token?grant_type=password', null, { email, password: PASSWORD });
    assert.equal(signIn.status, 200, 'the password is the old one');
  }

  it('PUT /user: a new password with a taken address is refused, and the password stays', async () => {
    await t.services.admin.createUser(LOCAL_CALL, { email: 'taken@acme.test', password: PASSWORD });
    const { token, other } = await account('owner@acme.test');
    const res = await call('PUT', '/user', token, {
      password: 'a brand new passphrase',
      email: 'taken@acme.test',
      data: { nickname: 'x' },
    });
    assert.equal(res.status, 422);
    assert.equal(res.json['error_code'], 'email_exists');
    await assertUnchanged('owner@acme.test', other);
  });

  it('PUT /user: metadata with a weak or the same password is refused whole', async () => {
    const { token, other } = await account('weak@acme.test');
    const weak = await call('PUT', '/user', token, { data: { nickname: 'x' }, password: 'short' });
    assert.equal(weak.status, 422);
    assert.equal(weak.json['error_code'], 'weak_password');
    const same = await call('PUT', '/user', token, { data: { nickname: 'x' }, password: PASSWORD });
    assert.equal(same.status, 422);
    assert.equal(same.json['error_code'], 'same_password');
    await assertUnchanged('weak@acme.test', other);
  });

  it('PUT /user: metadata with a malformed address is refused whole', async () => {
    const { token, other } = await account('malformed@acme.test');
    const res = await call('PUT', '/user', token, {
      data: { nickname: 'x' },
      password: 'a brand new passphrase',
      email: 'not an address',
    });
    assert.equal(res.status, 400);
    await assertUnchanged('malformed@acme.test', other);
  });

  it('PUT /admin/users/:id: an address, a ban and metadata with a weak password are refused whole', async () => {
    const { id, other } = await account('admin-target@acme.test');
    const res = await call('PUT', `/admin/users/${id}`, service, {
      email: 'moved@acme.test',
      ban_duration: '24h',
      user_metadata: { nickname: 'x' },
      password: 'short',
    });
    assert.equal(res.status, 422);
    assert.equal(res.json['error_code'], 'weak_password');
    assert.equal(await t.services.store.findUserByEmail('moved@acme.test'), null, 'the address did not move');
    await assertUnchanged('admin-target@acme.test', other);
  });
});
