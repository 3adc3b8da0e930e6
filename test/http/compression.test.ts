import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { createEveryDialectApp } from '../support/every-dialect-app.js';

/**
 * Answers are compressed from 1 KB on when the client accepts it, as json-server's, except the auth
 * dialects' answers under about 14 KB (src/http/compression.ts): those reach their client in one
 * round trip compressed or not, and gzip took a fifth of the server's CPU per refresh.
 */
const PASSWORD = 'a long passphrase';
const GZIP = { 'accept-encoding': 'gzip, deflate, br' };

describe('compressed answers', () => {
  let t: TestApp;

  before(async () => {
    const posts = Array.from({ length: 40 }, (_, i) => ({ id: i + 1, title: `post number ${i + 1}` }));
    t = await createEveryDialectApp({ 'db.json': JSON.stringify({ users: [], posts }) });
  });
  after(() => t.close());

  /** GET `url` with `token`, from a client that accepts compressed answers. */
  const getWithToken = (url: string, token: string) =>
    t.app.inject({ method: 'GET', url, headers: { ...GZIP, authorization: `Bearer ${token}` } });

  it('a GoTrue session answer (over 1 KB) is not compressed, also refreshed', async () => {
    const account = { email: 'ann@acme.test', password: PASSWORD };
    await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: account });
    const url = '/auth/v1/token?grant_type=password';
    const signIn = await t.app.inject({ method: 'POST', url, payload: account, headers: GZIP });
    assert.equal(signIn.statusCode, 200, signIn.body);
    assert.equal(signIn.headers['content-encoding'], undefined);
    assert.ok(signIn.rawPayload.length > 1024, `a session answer of ${signIn.rawPayload.length} bytes`);
    const { refresh_token } = signIn.json<{ refresh_token: string }>();
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token },
      headers: GZIP,
    });
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    assert.equal(refreshed.headers['content-encoding'], undefined);
    assert.ok(refreshed.rawPayload.length > 1024);
    assert.equal(typeof refreshed.json<{ access_token: string }>().access_token, 'string');
  });

  it('a GoTrue answer over 14 KB is compressed', async () => {
    const profile = { note: 'x'.repeat(15 * 1024) };
    const account = { email: 'bob@acme.test', password: PASSWORD, data: profile };
    const signUp = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: account });
    assert.equal(signUp.statusCode, 200, signUp.body);
    const { access_token } = signUp.json<{ access_token: string }>();
    const user = await getWithToken('/auth/v1/user', access_token);
    assert.equal(user.statusCode, 200, user.body);
    assert.equal(user.headers['content-encoding'], 'gzip');
    const body = JSON.parse(gunzipSync(user.rawPayload).toString()) as { user_metadata: typeof profile };
    assert.equal(body.user_metadata.note, profile.note);
  });

  it('the data API and the OpenAPI document are compressed from 1 KB on, as before', async () => {
    const carol = { username: 'carol', password: PASSWORD };
    await t.app.inject({ method: 'POST', url: '/auth/register', payload: carol });
    const login = await t.app.inject({ method: 'POST', url: '/auth/login', payload: carol });
    const { access_token: token } = login.json<{ access_token: string }>();
    const posts = await getWithToken('/posts', token);
    assert.equal(posts.statusCode, 200, posts.body);
    assert.equal(posts.headers['content-encoding'], 'gzip');
    assert.equal(JSON.parse(gunzipSync(posts.rawPayload).toString()).length, 40);
    const openapi = await t.app.inject({ method: 'GET', url: '/openapi/json', headers: GZIP });
    assert.equal(openapi.headers['content-encoding'], 'gzip');
  });
});
