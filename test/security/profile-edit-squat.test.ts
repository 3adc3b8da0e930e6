import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * The data API's `users` collection is each user's profile. An account that writes an address no
 * account has yet onto its own record (PATCH or PUT; json-server-auth's POST /users is its sign-up) would hold it, unproven:
 * the owner's later sign-up found it taken, and the squatter's password signed in by it. The data
 * API refuses identity fields (src/data/user-fields.ts); these attacks check it on a free address, in
 * json-server-auth (whose login is the record's email) and json-data-server (a GoTrue beside it).
 */

const SQUATTER_PASSWORD = 'squatter passphrase';
const OWNER_PASSWORD = 'owner passphrase';

describe('json-server-auth: a user writing a free address onto its own record', () => {
  let t: TestApp;
  let squatter: { token: string; id: string };

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { jsonServerAuth: { enabled: true } },
        data: { enabled: true, routes: { '/users*': '/600/users$1' } },
      },
      files: { 'db.json': JSON.stringify({ users: [] }) },
    });
    const registered = await t.app.inject({
      method: 'POST',
      url: '/register',
      payload: { email: 'squatter@mail.com', password: SQUATTER_PASSWORD },
    });
    assert.equal(registered.statusCode, 201, registered.body);
    const body = registered.json<{ accessToken: string; user: { id: string } }>();
    squatter = { token: body.accessToken, id: String(body.user.id) };
  });
  after(() => t.close());

  const write = (method: 'PATCH' | 'PUT', url: string, payload: Record<string, unknown>) =>
    t.app.inject({ method, url, payload, headers: { authorization: `Bearer ${squatter.token}` } });

  it('PATCH and PUT of an address are refused; the owner registers it and the squatter cannot sign in by it', async () => {
    const attempts = [
      await write('PATCH', `/users/${squatter.id}`, { email: 'owner@mail.com' }),
      await write('PUT', `/users/${squatter.id}`, { email: 'owner@mail.com', nickname: 's' }),
    ];
    for (const attempt of attempts) {
      assert.equal(attempt.statusCode, 400, attempt.body);
      assert.match(attempt.body, /email is an identity field/u);
    }
    const byAddress = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: 'owner@mail.com', password: SQUATTER_PASSWORD },
    });
    assert.equal(byAddress.statusCode, 400, `the squatter by the address: ${byAddress.body}`);
    const owner = await t.app.inject({
      method: 'POST',
      url: '/register',
      payload: { email: 'owner@mail.com', password: OWNER_PASSWORD },
    });
    assert.equal(owner.statusCode, 201, `the owner registers the address: ${owner.body}`);
    assert.equal((await t.services.store.findUserById(squatter.id))?.email, 'squatter@mail.com');
  });
});

describe('json-data-server beside GoTrue: a user writing a free address onto its own record', () => {
  let t: TestApp;
  let token: string;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } },
      files: { 'db.json': JSON.stringify({ users: [] }) },
    });
    token = await registeredToken(t, 'mallory', SQUATTER_PASSWORD);
  });
  after(() => t.close());

  it('PATCH and PUT of an address are refused; the owner signs up with it', async () => {
    for (const method of ['PATCH', 'PUT'] as const) {
      const attempt = await t.app.inject({
        method,
        url: '/users/mallory',
        payload: { email: 'owner@example.test' },
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(attempt.statusCode, 400, `${method}: ${attempt.body}`);
      assert.match(attempt.body, /email is an identity field/u);
    }
    const byAddress = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email: 'owner@example.test', password: SQUATTER_PASSWORD },
    });
    assert.equal(byAddress.statusCode, 400, byAddress.body);
    const owner = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'owner@example.test', password: OWNER_PASSWORD },
    });
    assert.equal(owner.statusCode, 200, owner.body);
    assert.ok(owner.json<{ access_token?: string }>().access_token, 'a new account, signed in');
  });
});
