import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING, gotrueClient, listen } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { serviceTokenOf } from '../support/service-token.js';

/** The claims of GoTrue's access tokens (internal/tokens/service.go), as apps and RLS policies read them. */
const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';
const SECRET = 'test-secret-0123456789abcdef-0123456789';
type Json = Record<string, unknown>;

async function signIn(t: TestApp, email: string): Promise<Json> {
  const res = await t.app.inject({
    method: 'POST',
    url: `${PREFIX}/token?grant_type=password`,
    payload: { email, password: PASSWORD },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<Json>();
}

async function getUser(t: TestApp, token: string): Promise<number> {
  const res = await t.app.inject({
    method: 'GET',
    url: `${PREFIX}/user`,
    headers: { authorization: `Bearer ${token}` },
  });
  return res.statusCode;
}

describe("GoTrue dialect: GoTrue's access-token claims by default", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ format: 'restauth', config: { passwords: FAST_HASHING } });
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'ann@acme.test',
      password: PASSWORD,
      emailConfirm: true,
      profile: { name: 'Ann' },
      appMetadata: { plan: 'pro' },
    });
  });
  after(() => t.close());

  it('a password sign-in: aud authenticated, amr password, aal1, the session, the user', async () => {
    const session = await signIn(t, 'ann@acme.test');
    const claims = decodeJwt(String(session['access_token']));
    const user = session['user'] as Json;
    assert.equal(claims.aud, 'authenticated');
    assert.equal(claims.sub, user['id']);
    assert.equal(claims['role'], 'authenticated');
    assert.equal(claims['email'], 'ann@acme.test');
    assert.equal(claims['phone'], '');
    assert.deepEqual(claims['app_metadata'], { provider: 'email', providers: ['email'], plan: 'pro' });
    assert.deepEqual(claims['user_metadata'], { name: 'Ann' });
    assert.equal(claims['aal'], 'aal1');
    assert.equal(claims['is_anonymous'], false);
    assert.equal(typeof claims['session_id'], 'string');
    const amr = claims['amr'] as Array<{ method: string; timestamp: number }>;
    assert.equal(amr.length, 1);
    assert.equal(amr[0]!.method, 'password');
    assert.ok(Math.abs(amr[0]!.timestamp - Number(claims.iat)) <= 1, 'the sign-in time');
    assert.equal(claims.iss, undefined, 'no issuer unless configured, as GoTrue');
    assert.equal(decodeProtectedHeader(String(session['access_token'])).kid, undefined);
  });

  it("a user with a user name (another dialect's sign-up): the token's user_metadata has it, as GET /user's", async () => {
    await t.services.auth.register(LOCAL_CALL, {
      username: 'named',
      email: 'named@acme.test',
      password: PASSWORD,
      emailConfirmed: true,
      profile: { name: 'Ned' },
    });
    const session = await signIn(t, 'named@acme.test');
    const user = session['user'] as Json;
    assert.deepEqual(user['user_metadata'], { name: 'Ned', username: 'named' });
    assert.deepEqual(decodeJwt(String(session['access_token']))['user_metadata'], user['user_metadata']);
    assert.deepEqual(decodeJwt(String(session['access_token']))['app_metadata'], user['app_metadata']);
  });

  it("a metadata key given as null is removed, as GoTrue's UpdateUserMetaData and UpdateAppMetaData remove it", async () => {
    const created = await t.services.admin.createUser(LOCAL_CALL, {
      email: 'nell@acme.test',
      password: PASSWORD,
      emailConfirm: true,
      profile: { name: 'Nell', nickname: 'nn' },
      appMetadata: { plan: 'pro', tier: 2 },
    });
    const session = await signIn(t, 'nell@acme.test');
    const own = await t.app.inject({
      method: 'PUT',
      url: `${PREFIX}/user`,
      headers: { authorization: `Bearer ${String(session['access_token'])}` },
      payload: { data: { nickname: null, city: 'Nantes' } },
    });
    assert.equal(own.statusCode, 200, own.body);
    assert.deepEqual(own.json<Json>()['user_metadata'], { name: 'Nell', city: 'Nantes' });
    const service = await serviceTokenOf(t);
    const byAdmin = await t.app.inject({
      method: 'PUT',
      url: `${PREFIX}/admin/users/${created.id}`,
      headers: { authorization: `Bearer ${service}` },
      payload: { app_metadata: { tier: null }, user_metadata: { city: null } },
    });
    assert.equal(byAdmin.statusCode, 200, byAdmin.body);
    const user = byAdmin.json<Json>();
    assert.deepEqual(user['app_metadata'], { provider: 'email', providers: ['email'], plan: 'pro' });
    assert.deepEqual(user['user_metadata'], { name: 'Nell' });
    const refreshed = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/token?grant_type=refresh_token`,
      payload: { refresh_token: session['refresh_token'] },
    });
    const claims = decodeJwt(String(refreshed.json<Json>()['access_token']));
    assert.deepEqual(claims['app_metadata'], user['app_metadata']);
    assert.deepEqual(claims['user_metadata'], user['user_metadata']);
  });

  it("a refreshed token keeps the session and its amr: the sign-in's method and time, as GoTrue's", async () => {
    const first = await signIn(t, 'ann@acme.test');
    t.advance(90_000);
    const res = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/token?grant_type=refresh_token`,
      payload: { refresh_token: first['refresh_token'] },
    });
    assert.equal(res.statusCode, 200, res.body);
    const claims = decodeJwt(String(res.json<Json>()['access_token']));
    assert.equal(claims['session_id'], decodeJwt(String(first['access_token']))['session_id']);
    assert.deepEqual(claims['amr'], decodeJwt(String(first['access_token']))['amr']);
    assert.ok(
      Number(claims.iat) - Number((claims['amr'] as Array<{ timestamp: number }>)[0]!.timestamp) >= 90,
    );
    assert.equal(claims.aud, 'authenticated');
  });
});

describe('GoTrue dialect: a configured audience, issuer and HS256 key id', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        jwt: { audience: 'my-app', issuer: 'https://auth.acme.test/auth/v1', secretKeyId: 'hs-1' },
      },
    });
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'bob@acme.test',
      password: PASSWORD,
      emailConfirm: true,
    });
  });
  after(() => t.close());

  it('tokens carry them, and verify', async () => {
    const token = String((await signIn(t, 'bob@acme.test'))['access_token']);
    const claims = decodeJwt(token);
    assert.equal(claims.aud, 'my-app');
    assert.equal(claims.iss, 'https://auth.acme.test/auth/v1');
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT', kid: 'hs-1' });
    assert.equal(await getUser(t, token), 200);
  });

  it('a token for another audience is refused, and the secret never appears in the JWKS', async () => {
    const token = String((await signIn(t, 'bob@acme.test'))['access_token']);
    const claims = decodeJwt(token);
    const other = await new SignJWT({ ...claims, aud: 'another-app' })
      .setProtectedHeader({ alg: 'HS256', kid: 'hs-1' })
      .sign(new TextEncoder().encode(SECRET));
    assert.equal(await getUser(t, other), 403);
    const jwks = await t.app.inject({ method: 'GET', url: `${PREFIX}/.well-known/jwks.json` });
    assert.deepEqual(jwks.json(), { keys: [] });
  });

  it('a token the secret signed before it had a key id still verifies', async () => {
    const token = String((await signIn(t, 'bob@acme.test'))['access_token']);
    const claims = decodeJwt(token);
    const withoutKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(SECRET));
    assert.equal(await getUser(t, withoutKid), 200);
  });
});

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`GoTrue dialect: the user object's aud is the user's audience (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: FAST_HASHING, jwt: { audience: 'my-app' } },
      });
      await t.services.admin.createUser(LOCAL_CALL, {
        email: 'cy@acme.test',
        password: PASSWORD,
        emailConfirm: true,
      });
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    it('the configured audience in every answer that shows a user, and as the admin list says', async () => {
      const session = await signIn(t, 'cy@acme.test');
      assert.equal((session['user'] as Json)['aud'], 'my-app');
      const me = await t.app.inject({
        method: 'GET',
        url: `${PREFIX}/user`,
        headers: { authorization: `Bearer ${String(session['access_token'])}` },
      });
      assert.equal(me.json<Json>()['aud'], 'my-app');
      const service = await serviceTokenOf(t);
      const list = await t.app.inject({
        method: 'GET',
        url: `${PREFIX}/admin/users`,
        headers: { authorization: `Bearer ${service}` },
      });
      const body = list.json<{ aud: string; users: Json[] }>();
      assert.equal(body.aud, 'my-app');
      assert.deepEqual(
        body.users.map((user) => user['aud']),
        ['my-app'],
      );
    });

    // credentials.json keeps no audience: there the configured one is every user's.
    if (storeKind === 'postgres') {
      it('on PostgreSQL, the auth.users row holds it, and a user moved to another audience answers its own', async () => {
        const url = store.config.store!.url;
        const session = await signIn(t, 'cy@acme.test');
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const { rows } = await client.query<{ aud: string }>(
            `SELECT aud FROM auth.users WHERE email = 'cy@acme.test'`,
          );
          assert.deepEqual(rows, [{ aud: 'my-app' }]);
          await client.query(`UPDATE auth.users SET aud = 'legacy-app' WHERE email = 'cy@acme.test'`);
        } finally {
          await client.end();
        }
        // Another audience's user is not found by its address, as GoTrue's FindUserByEmailAndAudience.
        const again = await t.app.inject({
          method: 'POST',
          url: `${PREFIX}/token?grant_type=password`,
          payload: { email: 'cy@acme.test', password: PASSWORD },
        });
        assert.equal(again.statusCode, 400, again.body);
        // The session made before: the token of this audience is no longer its user's, and a refresh
        // gives a token of its own audience, as GoTrue signs them: not for the one configured, so
        // restauth's own verification refuses it, as PostgREST's jwt-aud would.
        assert.equal(await getUser(t, String(session['access_token'])), 403);
        const refreshed = await t.app.inject({
          method: 'POST',
          url: `${PREFIX}/token?grant_type=refresh_token`,
          payload: { refresh_token: session['refresh_token'] },
        });
        assert.equal(refreshed.statusCode, 200, refreshed.body);
        const token = String(refreshed.json<Json>()['access_token']);
        assert.equal(decodeJwt(token).aud, 'legacy-app');
        assert.equal(await getUser(t, token), 403);
      });
    }
  });
}

describe('GoTrue dialect on PostgreSQL, no audience configured: a token carries its user’s, for auth-js', () => {
  let t: TestApp;
  let store: Awaited<ReturnType<typeof suiteStore>>;
  before(async () => {
    store = await suiteStore('postgres');
    t = await createTestApp({ format: 'restauth', config: { ...store.config, passwords: FAST_HASHING } });
    for (const email of ['dee@acme.test', 'eve@acme.test']) {
      await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
    }
    // A user GoTrue made for another audience (its X-JWT-AUD header) in the same auth.users.
    const client = new pg.Client({ connectionString: store.config.store!.url });
    await client.connect();
    try {
      await client.query(`UPDATE auth.users SET aud = 'partner-app' WHERE email = 'eve@acme.test'`);
    } finally {
      await client.end();
    }
  });
  after(async () => {
    await t.close();
    await store.drop();
  });

  it('authenticated for a user made here, its own for the other; both work as with GoTrue', async () => {
    const { client } = gotrueClient(await listen(t));
    for (const [email, aud] of [
      ['dee@acme.test', 'authenticated'],
      ['eve@acme.test', 'partner-app'],
    ] as const) {
      const { data, error } = await client.signInWithPassword({ email, password: PASSWORD });
      assert.equal(error, null);
      assert.equal(decodeJwt(data.session!.access_token).aud, aud);
      assert.equal(data.user!.aud, aud, 'the token says what the user object says');
      // GoTrue checks no audience when none is configured: restauth neither.
      const me = await client.getUser(data.session!.access_token);
      assert.equal(me.error, null);
      assert.equal(me.data.user!.aud, aud);
      await client.signOut({ scope: 'local' });
    }
  });
});
