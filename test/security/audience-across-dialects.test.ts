import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * One audience rule for every dialect: an access token is for its user's audience (auth.users.aud on
 * PostgreSQL, else jwt.audience), whether GoTrue, postgrest-auth or json-data-server signed it, and a
 * token for another audience than its user's is refused by every check (the data API's, /auth/check,
 * GoTrue's /user, postgrest-auth's bearer refresh). The attack: a user GoTrue made for another
 * audience in the same auth.users signs in through postgrest-auth or json-data-server, whose tokens
 * said jwt.audience for every user, and is taken as one of this application's. On PostgreSQL such a
 * user is not found by any sign-in (as GoTrue's FindUserByEmailAndAudience); the sessions it had before
 * its audience changed refresh to tokens of its own audience, which no check takes.
 */
const PASSWORD = 'audience passphrase 1';
const AUDIENCE = 'my-app';
const SECRET = 'test-secret-0123456789abcdef-0123456789';
type Json = Record<string, unknown>;

for (const kind of ['file', 'postgres'] as const) {
  describe(`one audience rule for every dialect (${kind} store)`, () => {
    let t: TestApp;
    let drop: () => Promise<void>;
    /** PostgreSQL: the partner's refresh tokens of sessions signed in before its audience changed. */
    let partnerSessions: { gotrue: string; 'json-data-server': string };

    before(async () => {
      const store = await suiteStore(kind);
      drop = store.drop;
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: FAST_HASHING,
          signup: { confirmEmail: false },
          jwt: { audience: AUDIENCE },
          dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: { enabled: true, prefix: '/pga' } },
          data: { rules: { notes: 600 } },
        },
        files: { 'db.json': JSON.stringify({ users: [], notes: [] }) },
      });
      for (const name of ['mine', 'partner']) {
        await t.services.auth.signUp(LOCAL_CALL, {
          username: name,
          email: `${name}@acme.test`,
          password: PASSWORD,
        });
      }
      if (kind === 'postgres') {
        const gotrue = await post('/auth/v1/token?grant_type=password', {
          email: 'partner@acme.test',
          password: PASSWORD,
        });
        const jds = await post('/auth/login', { username: 'partner', password: PASSWORD });
        partnerSessions = {
          gotrue: String(gotrue.json()['refresh_token']),
          'json-data-server': String(jds.json()['refresh_token']),
        };
        // GoTrue made this one for another audience (its X-JWT-AUD header) in the same auth.users.
        const client = new pg.Client({ connectionString: store.config.store!.url });
        await client.connect();
        try {
          await client.query(`UPDATE auth.users SET aud = 'partner-app' WHERE email = 'partner@acme.test'`);
        } finally {
          await client.end();
        }
      }
    });
    after(async () => {
      await t?.close();
      await drop?.();
    });

    const post = async (url: string, body: Json, token?: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        payload: body,
      });
      return { status: res.statusCode, json: () => res.json<Json>(), body: res.body };
    };

    /** An access token for `name` from each dialect's sign-in. */
    async function tokensOf(name: string) {
      const jds = await post('/auth/login', { username: name, password: PASSWORD });
      const pga = await post('/pga/refresh_token', { username: name, password: PASSWORD });
      const gotrue = await post('/auth/v1/token?grant_type=password', {
        email: `${name}@acme.test`,
        password: PASSWORD,
      });
      for (const res of [jds, pga, gotrue]) assert.equal(res.status, 200, res.body);
      return {
        'json-data-server': String(jds.json()['access_token']),
        'postgrest-auth': String(pga.json()['access_token']),
        gotrue: String(gotrue.json()['access_token']),
      };
    }

    /** Whether each of restauth's checks honours `token`. */
    async function honoured(token: string) {
      const check = await post('/auth/check', { access_token: token });
      assert.equal(check.status, 200, check.body);
      const user = await t.app.inject({
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${token}` },
      });
      const reissued = await post('/pga/refresh_token', {}, token);
      const verdicts = {
        check: check.json()['valid'],
        user: user.statusCode === 200,
        postgrestAuthRefresh: reissued.status === 200,
        data: true,
      };
      if (kind === 'file') {
        // The data API (file store only: on PostgreSQL, PostgREST serves the data).
        const data = await t.app.inject({ url: '/notes', headers: { authorization: `Bearer ${token}` } });
        verdicts.data = data.statusCode === 200;
      }
      return verdicts;
    }
    const ALL_HONOURED = { check: true, user: true, postgrestAuthRefresh: true, data: true };
    const NONE_HONOURED = {
      check: false,
      user: false,
      postgrestAuthRefresh: false,
      data: kind === 'file' ? false : true,
    };

    it("a user of this audience: every dialect's token says it and every check takes it", async () => {
      for (const [dialect, token] of Object.entries(await tokensOf('mine'))) {
        assert.equal(decodeJwt(token).aud, AUDIENCE, dialect);
        assert.deepEqual(await honoured(token), ALL_HONOURED, dialect);
      }
    });

    if (kind === 'postgres') {
      /**
       * The partner's tokens refreshed once from its sessions of before (a refresh token works once):
       * they say its audience now.
       */
      let refreshedOnce: Promise<Record<'json-data-server' | 'gotrue', string>> | undefined;
      const partnerTokens = () => (refreshedOnce ??= refreshPartner());
      async function refreshPartner() {
        const gotrue = await post('/auth/v1/token?grant_type=refresh_token', {
          refresh_token: partnerSessions.gotrue,
        });
        const jds = await post('/auth/refresh', { refresh_token: partnerSessions['json-data-server'] });
        for (const res of [jds, gotrue]) assert.equal(res.status, 200, res.body);
        return {
          'json-data-server': String(jds.json()['access_token']),
          gotrue: String(gotrue.json()['access_token']),
        };
      }

      it('a user of another audience: no dialect signs it in, as GoTrue finds none', async () => {
        const refused = [
          await post('/auth/login', { username: 'partner', password: PASSWORD }),
          await post('/pga/refresh_token', { username: 'partner', password: PASSWORD }),
          await post('/auth/v1/token?grant_type=password', {
            email: 'partner@acme.test',
            password: PASSWORD,
          }),
        ];
        for (const res of refused)
          assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
      });

      it("a user of another audience: its sessions' tokens say its own, and no check takes them", async () => {
        for (const [dialect, token] of Object.entries(await partnerTokens())) {
          assert.equal(decodeJwt(token).aud, 'partner-app', dialect);
          assert.deepEqual(await honoured(token), NONE_HONOURED, dialect);
        }
      });

      it('a token saying this audience for a user of another (signed before the rule) is refused', async () => {
        const { gotrue } = await partnerTokens();
        // Its real session and token version, the audience the dialects used to sign for every user.
        const claims = { ...decodeJwt(gotrue), aud: AUDIENCE };
        const forged = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .sign(new TextEncoder().encode(SECRET));
        assert.deepEqual(await honoured(forged), NONE_HONOURED);
      });
    }
  });
}
