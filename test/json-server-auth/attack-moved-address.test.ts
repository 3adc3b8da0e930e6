import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { JSON_SERVER_AUTH_USERS, jsonServerAuthProject } from '../support/json-server-auth.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * A user json-server-auth registered keeps their address in their db.json record (`email`), where
 * json-server-auth's apps look users up (`GET /users?email=`) and its answers show it. restauth took
 * the record over as it was, but an address change left it there: /login with the new address
 * answered `user.email` the old one, and once someone else signed up with the freed address, the
 * users collection still resolved it to the first user, so an app sharing "with alice@..." shared
 * with the wrong person. The copy now follows the account's address, kept across a restart.
 * A real takeover (json-server-auth 2.1.0 wrote the db.json), the admin API changes the address.
 */
const [OLIVIER] = JSON_SERVER_AUTH_USERS as [(typeof JSON_SERVER_AUTH_USERS)[number]];
const NEW_ADDRESS = 'olivier@new.example';

describe('a json-server-auth user record after an address change', () => {
  let dir: string;
  let t: TestApp;
  let admin: Record<string, string>;

  const start = () =>
    createTestApp({
      format: 'restauth',
      dir,
      // Members read each other's records, as an app that finds users by address needs.
      config: {
        dialects: { jsonServerAuth: { enabled: true }, gotrue: {} },
        data: { rules: { users: 640 } },
      },
    });
  const send = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, token?: string) =>
    t.app.inject({
      method,
      url,
      ...(payload === undefined ? {} : { payload }),
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  before(async () => {
    dir = await jsonServerAuthProject();
    t = await start();
    admin = {
      authorization: `Bearer ${await serviceTokenOf(t)}`,
    };
    const moved = await t.app.inject({
      method: 'PUT',
      url: '/auth/v1/admin/users/1',
      payload: { email: NEW_ADDRESS, email_confirm: true },
      headers: admin,
    });
    assert.equal(moved.statusCode, 200, moved.body);
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('/login answers the address the user signs in with', async () => {
    const res = await send('POST', '/login', { email: NEW_ADDRESS, password: OLIVIER.password });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ user: { email: string } }>().user.email, NEW_ADDRESS);
  });

  it('the old address names no one once another user signs up with it', async () => {
    const registered = await send('POST', '/register', {
      email: OLIVIER.email,
      password: 'a new owner 1234',
    });
    assert.equal(registered.statusCode, 201, registered.body);
    const token = registered.json<{ accessToken: string }>().accessToken;
    const found = await send('GET', `/users?email=${encodeURIComponent(OLIVIER.email)}`, undefined, token);
    assert.equal(found.statusCode, 200, found.body);
    assert.deepEqual(found.json(), []);
    const moved = await send('GET', `/users?email=${encodeURIComponent(NEW_ADDRESS)}`, undefined, token);
    assert.deepEqual(
      moved.json<Array<{ id: number }>>().map((user) => user.id),
      [1],
    );
  });

  it('the record keeps the new address across a restart', async () => {
    await t.close();
    t = await start();
    const db = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as {
      users: Array<{ id: unknown; email?: string }>;
    };
    assert.equal(db.users.find((user) => user.id === 1)?.email, NEW_ADDRESS);
  });
});
