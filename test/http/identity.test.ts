import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { INVALID_EMAIL } from '../../src/core/identity.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Attacks on the identity model, over HTTP on both stores: logins that are
 * one login once normalised, a user name posing as an address, an address
 * set on a public record, identity fields in user data, NUL characters and
 * addresses a mail transport reads otherwise.
 */
type Json = Record<string, unknown>;
const PASSWORD = 'a long passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`identity model (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    const send = async (
      method: 'GET' | 'POST' | 'PUT' | 'PATCH',
      url: string,
      body?: unknown,
      token?: string,
    ) => {
      const res = await t.app.inject({
        method,
        url,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      let json: Json = {};
      try {
        json = JSON.parse(res.body) as Json;
      } catch {
        // plain-text answers (json-data-server's errors)
      }
      return { status: res.statusCode, text: res.body, json };
    };
    const gotrueSignUp = (email: string, password = PASSWORD, data?: Json) =>
      send('POST', '/auth/v1/signup', { email, password, ...(data ? { data } : {}) });
    const gotrueSignIn = (email: string, password: string) =>
      send('POST', '/auth/v1/token?grant_type=password', { email, password });
    const register = (body: Json) => send('POST', '/auth/register', body);
    const login = (username: string, password: string) => send('POST', '/auth/login', { username, password });

    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          roles: { perUser: true },
          dialects: {
            gotrue: { enabled: true },
            jsonDataServer: { enabled: true },
            postgrestAuth: { enabled: true },
          },
          data: { rules: { users: 600 } },
        },
      });
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    it('a name with the Kelvin sign, full-width letters or outer spaces is the name it looks like, role included', async () => {
      const kate = await register({ username: 'kate', password: PASSWORD });
      assert.equal(kate.status, 200, kate.text);
      for (const lookalike of ['\u212Aate', 'ＫＡＴＥ', ' Kate ', 'KATE']) {
        const res = await register({ username: lookalike, password: 'the attacker passphrase' });
        assert.equal(res.status, 400, `${JSON.stringify(lookalike)}: ${res.text}`);
        assert.equal(res.text, 'User already registered');
        // ... and signs in as nobody but kate, with kate's password only.
        assert.equal((await login(lookalike, 'the attacker passphrase')).status, 400);
      }
      const signedIn = await login('\u212Aate', PASSWORD);
      assert.equal(signedIn.status, 200, 'a login is compared in its normalised form');
      const role = decodeJwt(signedIn.json.access_token as string).role;
      assert.equal(role, 'kate');
      const users = await t.services.store.listUsers({ page: 1, perPage: 100 });
      assert.equal(
        users.users.filter((user) => user.role === 'kate').length,
        1,
        'one user holds the role kate',
      );
    });

    it("a user's own data cannot show another user name on the GoTrue user", async () => {
      const signedUp = await register({ username: 'frank', password: PASSWORD });
      assert.equal(signedUp.status, 200, signedUp.text);
      const token = signedUp.json.access_token as string;
      const put = await send('PUT', '/auth/v1/user', { data: { username: 'kate', bio: 'hi' } }, token);
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(put.json.user_metadata, { username: 'frank', bio: 'hi' });
      assert.equal((await send('GET', '/auth/v1/user', undefined, token)).json.email, '');
    });

    it('a user name that is an address cannot shadow that address: it is the address', async () => {
      assert.equal((await gotrueSignUp('dana@corp.test')).status, 200);
      const shadow = await register({ username: 'DANA@CORP.TEST', password: 'the attacker passphrase' });
      assert.equal(shadow.status, 400, shadow.text);
      assert.equal((await gotrueSignIn('dana@corp.test', 'the attacker passphrase')).status, 400);
      assert.equal((await login('dana@corp.test', 'the attacker passphrase')).status, 400);
      assert.equal((await gotrueSignIn('DANA@corp.test', PASSWORD)).status, 200, 'dana still signs in');
      // A free address as the json-data-server user makes an email account, signing in by that address.
      const erin = await register({ username: 'Erin@Corp.Test', password: PASSWORD });
      assert.equal(erin.status, 200, erin.text);
      assert.equal((await t.services.store.findUserByEmail('erin@corp.test'))?.username, null);
      assert.equal((await gotrueSignIn('erin@corp.test', PASSWORD)).status, 200);
    });

    it('identity and security fields of user data never become identity', async () => {
      const victim = await gotrueSignUp('victim@corp.test');
      const victimId = (victim.json.user as Json).id as string;
      const before = await t.services.store.findUserById(victimId);
      const attack = await gotrueSignUp('mallory@evil.test', PASSWORD, {
        id: victimId,
        email: 'victim@corp.test',
        role: 'service_role',
        app_metadata: { admin: true },
        email_confirmed_at: new Date().toISOString(),
      });
      assert.equal(attack.status, 200, attack.text);
      const mallory = attack.json.user as Json;
      assert.notEqual(mallory.id, victimId);
      assert.equal(mallory.email, 'mallory@evil.test');
      assert.equal(mallory.role, 'authenticated');
      assert.deepEqual(mallory.app_metadata, { provider: 'email', providers: ['email'] });
      const claims = decodeJwt(attack.json.access_token as string);
      assert.equal(claims.role, 'authenticated');
      assert.equal(claims.email, 'mallory@evil.test');
      // The victim's account is as it was, and its address is still its own.
      assert.deepEqual(await t.services.store.findUserById(victimId), before);
      assert.equal((await t.services.store.findUserByEmail('victim@corp.test'))?.id, victimId);
      // PUT /user data cannot move identity either.
      const put = await send(
        'PUT',
        '/auth/v1/user',
        { data: { email: 'victim@corp.test', role: 'service_role' } },
        attack.json.access_token as string,
      );
      assert.equal(put.status, 200, put.text);
      assert.equal((put.json as Json).email, 'mallory@evil.test');
      assert.equal((await t.services.store.findUserByEmail('victim@corp.test'))?.id, victimId);
      // json-data-server's extra register fields become the public record: identity fields are refused.
      for (const field of ['role', 'app_metadata', 'email_confirmed_at', 'banned_until', 'phone']) {
        const res = await register({ username: `field${field.length}x`, password: PASSWORD, [field]: 'x' });
        assert.equal(res.status, 400, `${field}: ${res.text}`);
        assert.match(res.text, new RegExp(field, 'u'));
      }
      // A password-like one (a sign-up form's confirmation) is left out of the record: the sign-up succeeds.
      for (const field of ['password_hash', 'passwordConfirm', 'pwd']) {
        const username = `secret${field.length}x`;
        const res = await register({ username, password: PASSWORD, [field]: PASSWORD, bio: 'kept' });
        assert.equal(res.status, 200, `${field}: ${res.text}`);
        const user = await t.services.store.findUserByUsername(username);
        assert.deepEqual(user?.profile, { bio: 'kept' }, field);
        assert.equal(JSON.stringify(user).includes(PASSWORD), false, field);
      }
      if (storeKind === 'file') {
        assert.equal(
          JSON.stringify(t.services.documents!.data).includes(PASSWORD),
          false,
          'never in db.json',
        );
      }
    });

    it('NUL or an unpaired surrogate in a login, a password or user data is a 400 on every dialect, never a 500', async () => {
      const cases: [string, Promise<{ status: number; text: string }>][] = [
        ['gotrue email', gotrueSignUp('nul\u0000@corp.test')],
        ['gotrue password', gotrueSignUp('nulpw@corp.test', 'a long\u0000passphrase')],
        ['gotrue data value', gotrueSignUp('nuldata@corp.test', PASSWORD, { bio: 'a\u0000b' })],
        ['gotrue data key', gotrueSignUp('nulkey@corp.test', PASSWORD, { 'a\u0000': 1 })],
        ['gotrue deep data', gotrueSignUp('nuldeep@corp.test', PASSWORD, { a: [{ b: ['\u0000'] }] })],
        [
          'gotrue data, an unpaired surrogate',
          gotrueSignUp('surrogate@corp.test', PASSWORD, { bio: 'a\ud800b' }),
        ],
        ['gotrue sign-in', gotrueSignIn('nul\u0000@corp.test', PASSWORD)],
        ['gotrue recover', send('POST', '/auth/v1/recover', { email: 'a\u0000@corp.test' })],
        ['json-data-server register', register({ username: 'nul\u0000name', password: PASSWORD })],
        [
          'json-data-server extra field',
          register({ username: 'nulextra', password: PASSWORD, bio: '\u0000' }),
        ],
        [
          'json-data-server extra field, an unpaired surrogate',
          register({ username: 'surrogate', password: PASSWORD, bio: ['\udc00'] }),
        ],
        ['json-data-server login', login('nul\u0000name', PASSWORD)],
        ['postgrest-auth forgot_password', send('POST', '/auth/forgot_password', { username: 'a\u0000b' })],
        ['postgrest-auth forgot_username', send('POST', '/auth/forgot_username', { email: 'a\u0000@b.c' })],
        [
          'postgrest-auth login',
          send('POST', '/auth/refresh_token', { username: 'a\u0000b', password: PASSWORD }),
        ],
      ];
      for (const [name, pending] of cases) {
        const res = await pending;
        // forgot_* answer alike for every input they accept; all others refuse it.
        assert.ok(
          res.status === 400 || (name.includes('forgot') && res.status === 200),
          `${name}: ${res.status} ${res.text}`,
        );
      }
      const signedUp = await gotrueSignUp('nulput@corp.test');
      const put = await send(
        'PUT',
        '/auth/v1/user',
        { data: { bio: 'x\u0000' } },
        signedUp.json.access_token as string,
      );
      assert.equal(put.status, 400, put.text);
    });

    it('addresses a mail transport would read otherwise are refused as GoTrue refuses them', async () => {
      for (const address of ['<mallory@evil.test>corp.io', 'xx:;x@x.x', 'a@b@corp.test', 'dana@corp.test>']) {
        const res = await gotrueSignUp(address);
        assert.equal(res.status, 400, `${address}: ${res.text}`);
        assert.equal(res.json.msg, INVALID_EMAIL);
        assert.equal(res.json.error_code, 'validation_failed');
        const change = await send('POST', '/auth/change_email', {
          username: 'kate',
          password: PASSWORD,
          email: address,
        });
        assert.equal(change.status, 400, `change_email ${address}: ${change.text}`);
      }
    });

    it('logins that normalise alike collide, whichever form came first (property)', async () => {
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 3, maxLength: 8 }),
          fc.constantFrom<(name: string) => string>(
            (name) => name.toUpperCase(),
            (name) => ` ${name} `,
            (name) => name.replace(/k/gu, '\u212A'),
            (name) => name.replace(/[a-z]/gu, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0)),
          ),
          async (base, variant) => {
            const name = `p${round++}${base}`;
            const first = await t.services.auth.register(LOCAL_CALL, {
              username: name,
              email: `${name}@corp.test`,
              password: PASSWORD,
            });
            await assert.rejects(
              t.services.auth.register(LOCAL_CALL, { username: variant(name), password: PASSWORD }),
              {
                code: 'user_already_exists',
              },
            );
            await assert.rejects(
              t.services.auth.register(LOCAL_CALL, {
                username: `${name}x`,
                email: variant(`${name}@corp.test`),
                password: PASSWORD,
              }),
              { code: 'email_exists' },
            );
            assert.equal((await t.services.auth.findByLogin(variant(name)))?.id, first.id);
            assert.equal((await t.services.auth.findByLogin(variant(`${name}@CORP.test`)))?.id, first.id);
          },
        ),
        { numRuns: 25 },
      );
    });

    if (storeKind === 'file') {
      it("an email on a user's own public record is data, never a login", async () => {
        const owner = await gotrueSignUp('owner@corp.test');
        assert.equal(owner.status, 200);
        const eve = await register({ username: 'eve', password: PASSWORD });
        assert.equal(eve.status, 200, eve.text);
        // The data API refuses the field; were it written (by hand, or an older restauth), it is still no login.
        const patched = await send(
          'PATCH',
          '/users/eve',
          { email: 'owner@corp.test' },
          eve.json.access_token as string,
        );
        assert.equal(patched.status, 400, patched.text);
        assert.equal((await gotrueSignIn('owner@corp.test', PASSWORD)).status, 200);
        assert.equal((await login('owner@corp.test', PASSWORD)).status, 200);
        const eveUser = await t.services.store.findUserByUsername('eve');
        assert.equal(eveUser?.email, null, "eve's account has no address");
        assert.equal((await t.services.store.findUserByEmail('owner@corp.test'))?.username, null);
        // A fresh (emailless) account setting someone's address on its record gets no recovery mail for it.
        const signIn = await gotrueSignIn('owner@corp.test', PASSWORD);
        assert.equal(decodeJwt(signIn.json.access_token as string).email, 'owner@corp.test');
      });
    }
  });
}
