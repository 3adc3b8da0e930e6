import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const PASSWORD = 'standing passphrase 1';

/**
 * The two token checks judge alike: AuthService.authorize (json-data-server's /auth/check, as the data
 * API: Store.findTokenStanding where the store has it) and check (GoTrue's GET /user: whole records),
 * both through the verified-token cache. Each token is first used
 * once on both (so its signature is in the cache), then its standing changes, and both must refuse
 * it on the very next request: signed out, banned, its password changed, its user deleted and the
 * id given to someone new, expired; a token naming one user and another user's session (signed
 * with the server's secret, as a leaked secret would allow) is refused without a first use.
 */
for (const kind of ['file', 'postgres'] as const) {
  describe(`authorize and check give the same verdict, ${kind} store`, () => {
    let t: TestApp;
    let drop: () => Promise<void>;
    let serial = 0;

    before(async () => {
      const store = await suiteStore(kind);
      drop = store.drop;
      t = await createTestApp({
        format: 'restauth',
        config: {
          passwords: FAST_HASHING,
          signup: { confirmEmail: false },
          dialects: { gotrue: {}, jsonDataServer: {} },
          ...store.config,
        },
      });
    });
    after(async () => {
      await t?.close();
      await drop?.();
    });

    async function newUser() {
      const email = `standing-${++serial}@corp.test`;
      await t.services.auth.signUp(LOCAL_CALL, { email, password: PASSWORD });
      return t.services.auth.signIn(LOCAL_CALL, email, PASSWORD);
    }

    /** Whether each path honours `token`: json-data-server's /auth/check (authorize) and GoTrue's GET /user (check). */
    async function verdicts(token: string): Promise<{ authorize: unknown; check: boolean }> {
      const checked = await t.app.inject({
        method: 'POST',
        url: '/auth/check',
        payload: { access_token: token },
      });
      assert.equal(checked.statusCode, 200, checked.body);
      const user = await t.app.inject({
        method: 'GET',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.ok(user.statusCode === 200 || user.statusCode === 403, `GET /user answered ${user.statusCode}`);
      return { authorize: (checked.json() as { valid: unknown }).valid, check: user.statusCode === 200 };
    }

    const honoured = { authorize: true, check: true };
    const refused = { authorize: false, check: false };

    it('honours a live token on both, then refuses it on both once its standing changed', async () => {
      const changes: [string, (signedIn: Awaited<ReturnType<typeof newUser>>) => Promise<unknown>][] = [
        ['signed out', (s) => t.services.auth.signOut(LOCAL_CALL, s.session.id, s.user.id)],
        ['banned', (s) => t.services.admin.updateUser(LOCAL_CALL, s.user.id, { banDuration: '24h' })],
        [
          'password changed',
          (s) => t.services.admin.updateUser(LOCAL_CALL, s.user.id, { password: 'another passphrase 2' }),
        ],
        [
          'user deleted, then a new one signed up',
          async (s) => {
            await t.services.admin.deleteUser(LOCAL_CALL, s.user.id);
            await newUser();
          },
        ],
      ];
      for (const [name, change] of changes) {
        const signedIn = await newUser();
        assert.deepEqual(await verdicts(signedIn.accessToken), honoured, name);
        await change(signedIn);
        assert.deepEqual(await verdicts(signedIn.accessToken), refused, name);
      }
    });

    it('refuses a token seen before once it expired', async () => {
      const signedIn = await newUser();
      assert.deepEqual(await verdicts(signedIn.accessToken), honoured);
      t.advance((t.config.jwt.accessTokenTtl + t.config.jwt.clockTolerance + 1) * 1000);
      assert.deepEqual(await verdicts(signedIn.accessToken), refused);
    });

    it("refuses one user's sub with another user's session", async () => {
      const victim = await newUser();
      const attacker = await newUser();
      const now = Math.floor(Date.now() / 1000);
      const forged = await new SignJWT({
        sub: victim.user.id,
        role: 'authenticated',
        session_id: attacker.session.id,
        token_version: 0,
        aud: 'authenticated',
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(new TextEncoder().encode(t.config.jwt.secret!));
      assert.deepEqual(await verdicts(forged), refused);
    });
  });
}

/**
 * json-data-server's users are keyed by their user name: a user deleted and a new one registered
 * under the same name has the same id (sub), and a token version of 0 as the old one's. The old
 * user's token must stay refused on both paths: its session ended with its user.
 */
describe("a deleted user's token, its id given again (json-data-server's user names)", () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
    });
  });
  after(async () => {
    await t?.close();
  });

  const register = () => registeredToken(t, 'reused', PASSWORD);

  it('is refused by /auth/check and the data API', async () => {
    const old = await register();
    const valid = async (token: string) =>
      (
        (
          await t.app.inject({ method: 'POST', url: '/auth/check', payload: { access_token: token } })
        ).json() as { valid: unknown }
      ).valid;
    assert.equal(await valid(old), true);
    await t.services.admin.deleteUser(LOCAL_CALL, 'reused');
    const current = await register();
    assert.equal(await valid(current), true);
    assert.equal(await valid(old), false);
    const read = await t.app.inject({
      method: 'GET',
      url: '/users/reused',
      headers: { authorization: `Bearer ${old}` },
    });
    assert.equal(read.statusCode, 401);
  });
});
