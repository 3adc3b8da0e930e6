import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAnonymousDataApp } from '../support/anonymous-data-app.js';
import type { TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * The data API's middle digit is for logged-in users: json-server-auth's registered members (`640`:
 * members read, `660`, the default: members read and write). With anonymous sign-ins on (a shopping
 * cart before check-out), anyone gets a token with one `POST /auth/v1/signup {}`, and that token
 * passed as a member's: it read every `640` collection and read and rewrote every collection under
 * the default rule. An anonymous user now gets the public digit and, on its own records, the owner
 * digit; whether it is anonymous is read from the store, not its claims, so a token of its session
 * from another dialect (json-data-server's refresh) is no member's either, and one made permanent
 * is a member at once, its token still saying is_anonymous; json-server-auth's URL guards
 * (`/660/notes`) follow. Over HTTP on a real app on files.
 */
const MEMBERS_MESSAGE = { id: 1, userId: 'someone', text: 'members only' };
const TEAM_NOTE = { id: 1, text: 'team notes' };

describe('an anonymous sign-in is no logged-in user of the data API', () => {
  let t: TestApp;
  let member = '';

  before(async () => {
    t = await createAnonymousDataApp(
      { messages: 640 },
      { users: [], messages: [MEMBERS_MESSAGE], notes: [TEAM_NOTE], motd: { text: 'welcome, members' } },
      { jsonDataServer: {}, jsonServerAuth: { enabled: true } },
    );
    member = await registeredToken(t, 'member', 'member passphrase 1');
  });
  after(() => t.close());

  const send = async (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    url: string,
    token: string,
    payload?: object,
  ) => {
    const res = await t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload }),
    });
    return { status: res.statusCode, body: res.json() as unknown };
  };

  const signInAnonymously = async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{
      access_token: string;
      refresh_token: string;
      user: { id: string; is_anonymous: boolean };
    }>();
  };

  it('a member reads the members-only collections', async () => {
    assert.deepEqual((await send('GET', '/messages', member)).body, [MEMBERS_MESSAGE]);
    assert.deepEqual((await send('GET', '/notes', member)).body, [TEAM_NOTE]);
  });

  it("reads none of the members' records and changes none; it owns what it creates", async () => {
    const anonymous = await signInAnonymously();
    assert.equal(anonymous.user.is_anonymous, true);
    const token = anonymous.access_token;

    assert.deepEqual(await send('GET', '/messages', token), { status: 200, body: [] });
    assert.equal((await send('GET', '/messages/1', token)).status, 403);
    assert.deepEqual(await send('GET', '/notes', token), { status: 200, body: [] });
    assert.equal((await send('PATCH', '/notes/1', token, { text: 'defaced' })).status, 403);
    assert.equal((await send('PUT', '/notes/1', token, { text: 'defaced' })).status, 403);
    assert.equal((await send('PATCH', '/motd', token, { text: 'defaced' })).status, 403);
    assert.equal((await send('GET', '/motd', token)).status, 403);
    // json-server-auth's guard in the URL is judged by the same digits.
    assert.deepEqual(await send('GET', '/660/notes', token), { status: 200, body: [] });
    assert.equal((await send('PATCH', '/660/notes/1', token, { text: 'defaced' })).status, 403);
    const db = (await send('GET', '/db', token)).body as Record<string, unknown>;
    assert.deepEqual(db['messages'], []);
    assert.deepEqual(db['notes'], []);
    assert.equal(db['motd'], undefined);

    // Its own records, as the cart before check-out: created as its own, read back, nobody else's.
    const created = await send('POST', '/notes', token, { text: 'my cart' });
    assert.equal(created.status, 201);
    assert.equal((created.body as { userId: string }).userId, anonymous.user.id);
    assert.deepEqual((await send('GET', '/notes', token)).body, [created.body]);

    // As a member reads them: the team's note and the notice as they were, the cart beside them.
    assert.deepEqual((await send('GET', '/notes', member)).body, [TEAM_NOTE, created.body]);
    assert.deepEqual((await send('GET', '/motd', member)).body, { text: 'welcome, members' });
  });

  it("json-data-server's token of its session is no member's either", async () => {
    const anonymous = await signInAnonymously();
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: anonymous.refresh_token },
    });
    assert.equal(res.statusCode, 200, res.body);
    const token = res.json<{ access_token: string }>().access_token;
    assert.deepEqual(await send('GET', '/messages', token), { status: 200, body: [] });
    assert.equal((await send('PATCH', '/notes/1', token, { text: 'defaced' })).status, 403);
  });

  it('made permanent, its same access token is a member’s at once', async () => {
    const anonymous = await signInAnonymously();
    const token = anonymous.access_token;
    assert.deepEqual((await send('GET', '/messages', token)).body, []);
    const upgraded = await send('PUT', '/auth/v1/user', token, { email: 'joined@example.com' });
    assert.equal(upgraded.status, 200);
    assert.equal((upgraded.body as { is_anonymous: boolean }).is_anonymous, false);
    assert.deepEqual(await send('GET', '/messages', token), { status: 200, body: [MEMBERS_MESSAGE] });
  });
});
