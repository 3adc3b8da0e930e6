import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAnonymousDataApp } from '../support/anonymous-data-app.js';
import type { TestApp } from '../support/app.js';

/**
 * The data API behind an anonymous sign-in (the shopping cart before check-out): the anonymous
 * user's token owns records like any user's, and they stay its own once it is permanent.
 */
describe('the data API and an anonymous user', () => {
  let t: TestApp;
  before(async () => {
    t = await createAnonymousDataApp({ carts: 600 }, { users: [], carts: [] });
  });
  after(() => t.close());

  const send = async (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    token: string | null,
    payload?: unknown,
  ) => {
    const res = await t.app.inject({
      method,
      url,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
    return { status: res.statusCode, json: () => res.json() as Record<string, unknown> };
  };

  it('owns a cart while anonymous and keeps it once permanent; nobody else reads it', async () => {
    const signedIn = (await send('POST', '/auth/v1/signup', null, { data: {} })).json() as {
      access_token: string;
      refresh_token: string;
      user: { id: string; is_anonymous: boolean };
    };
    assert.equal(signedIn.user.is_anonymous, true);
    const created = await send('POST', '/carts', signedIn.access_token, {
      userId: signedIn.user.id,
      item: 'book',
    });
    assert.equal(created.status, 201);
    const cartId = created.json()['id'];
    assert.equal((await send('GET', `/carts/${String(cartId)}`, null)).status, 401);
    const other = (await send('POST', '/auth/v1/signup', null, {})).json() as { access_token: string };
    assert.equal((await send('GET', `/carts/${String(cartId)}`, other.access_token)).status, 403);

    const upgraded = await send('PUT', '/auth/v1/user', signedIn.access_token, { email: 'cart@example.com' });
    assert.equal(upgraded.status, 200);
    assert.equal(upgraded.json()['is_anonymous'], false);
    const refreshed = (
      await send('POST', '/auth/v1/token?grant_type=refresh_token', null, {
        refresh_token: signedIn.refresh_token,
      })
    ).json() as { access_token: string };
    const read = await send('GET', `/carts/${String(cartId)}`, refreshed.access_token);
    assert.equal(read.status, 200);
    assert.equal(read.json()['item'], 'book');
  });
});
