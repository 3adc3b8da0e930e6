import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * json-data-server's /auth/check {id, access_token} and /auth/refresh {id, refresh_token} answer
 * whether the token is the named user's, naming the user by id or by name (core/identity.ts
 * namesUser: the id compared exactly, the name by login key). A json-server-auth db.json taken over at
 * start keeps its users' ids as they were, and such ids may be any string (`"Admin"`). Anyone may then
 * register the json-data-server user name `admin`: its id is `admin`, not `Admin`, so the file store
 * takes it, and its login key equals the login key of the victim's id. The attacker's tokens then pass
 * for the victim's id. Now an exact id names its own user only (core/named-user.ts). (The
 * uuid-shaped case: username-spelling-a-user-id.test.ts; the operator's lookup refuses this pair as
 * ambiguous: admin-lookup-name-is-id.test.ts.)
 */
describe("a user name whose login key is another user's taken-over id", () => {
  let t: TestApp;
  before(async () => {
    const hash = bcrypt.hashSync('victim long passphrase', 4);
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        dialects: { gotrue: {}, jsonDataServer: {}, jsonServerAuth: { enabled: true } },
      },
      files: {
        'db.json': JSON.stringify({
          users: [{ id: 'Admin', email: 'admin@corp.test', password: hash }],
          posts: [],
        }),
      },
    });
  });
  after(() => t?.close());

  it("never lets the attacker's tokens pass for the victim's id", async () => {
    // The taken-over user signs in as before: its id is "Admin".
    const victim = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: 'admin@corp.test', password: 'victim long passphrase' },
    });
    assert.equal(victim.statusCode, 200, victim.body);
    assert.equal(victim.json<{ user: { id: string } }>().user.id, 'Admin');

    const attacker = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'admin', password: 'attacker long passphrase' },
    });
    // The name is another account's: its own tokens, never the victim's.
    assert.equal(attacker.statusCode, 200, attacker.body);
    const { access_token: accessToken, refresh_token: refreshToken } = attacker.json<{
      access_token: string;
      refresh_token: string;
    }>();
    const check = await t.app.inject({
      method: 'POST',
      url: '/auth/check',
      payload: { id: 'Admin', access_token: accessToken },
    });
    assert.equal(check.statusCode, 200, check.body);
    assert.equal(check.json<{ valid: boolean }>().valid, false, `/auth/check for id Admin: ${check.body}`);

    const refresh = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { id: 'Admin', refresh_token: refreshToken },
    });
    assert.equal(
      refresh.statusCode,
      400,
      `/auth/refresh for id Admin: ${refresh.statusCode} ${refresh.body}`,
    );
  });

  it('a name still names its own account, in any case, where no other account has it as its id', async () => {
    const own = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'carol', password: 'carol long passphrase' },
    });
    assert.equal(own.statusCode, 200, own.body);
    const check = await t.app.inject({
      method: 'POST',
      url: '/auth/check',
      payload: { id: 'CAROL', access_token: own.json<{ access_token: string }>().access_token },
    });
    assert.deepEqual(check.json(), { valid: true });
  });
});
