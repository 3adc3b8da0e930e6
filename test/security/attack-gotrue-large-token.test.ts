import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING, gotrueClient, listen } from '../support/gotrue.js';
import { maxHeaderBytes } from '../../src/http/header-limit.js';

const PASSWORD = 'a long passphrase';

/** The status of a GET with one header of `bytes` bytes, over a plain socket (fetch has bounds of its own). */
function statusWithHeaderOf(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/settings`, { headers: { 'x-filler': 'x'.repeat(bytes) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The attack on oneself, or on an app that keeps a picture in user_metadata: a sign-up with 20 KB of
 * user data (a fifth of the default bodyLimit) got an access token of 27 KB, which restauth itself then
 * refused on every route with 431 (Node's 16 KiB header bound): the user could not read, shrink or
 * sign out of the account it had just made; only an administrator could. GoTrue takes it. Over real
 * HTTP (inject has no header bound), through auth-js.
 */
describe('every access token restauth issues is taken back over HTTP', () => {
  let t: TestApp;
  let url: string;

  before(async () => {
    t = await createTestApp({ format: 'restauth', config: { passwords: FAST_HASHING } });
    url = await listen(t);
  });
  after(async () => {
    await t?.close();
  });

  it('a sign-up with 20 KB of user data reads and shrinks its account', async () => {
    const { client } = gotrueClient(url);
    const signedUp = await client.signUp({
      email: 'pic@acme.test',
      password: PASSWORD,
      options: { data: { avatar: 'x'.repeat(20_000) } },
    });
    assert.equal(signedUp.error, null);
    assert.ok(signedUp.data.session!.access_token.length > 16 * 1024, 'the token is larger than Node takes');
    const read = await client.getUser();
    assert.equal(read.error, null, `GET /user: ${read.error?.message}`);
    const shrunk = await client.updateUser({ data: { avatar: null } });
    assert.equal(shrunk.error, null, `PUT /user: ${shrunk.error?.message}`);
    assert.deepEqual(shrunk.data.user!.user_metadata, {});
  });

  it('the largest token bodyLimit allows fits; a header section beyond the bound is still a 431', async () => {
    // Both metadata objects at the bound, as a token would carry them base64url-encoded.
    const largestToken = Math.ceil((2 * t.config.bodyLimit * 4) / 3);
    assert.equal(await statusWithHeaderOf(url, largestToken), 200);
    assert.equal(await statusWithHeaderOf(url, maxHeaderBytes(t.config.bodyLimit) + 1024), 431);
  });
});
