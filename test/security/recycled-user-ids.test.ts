import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const PASSWORD = 'owner passphrase 1';
const ATTACKER_PASSWORD = 'attacker passphrase 1';

/**
 * The data API's owner rules judge a record by its `userId` against the token's `sub`, and a
 * json-data-server user's id is the user name the client chose. A user deleted (GoTrue's admin API,
 * `restauth users delete`) leaves its records in db.json, and a db.json may hold records of owners
 * that never registered (seeded data, a json-server-auth project): whoever registered that name next
 * read and wrote them under a 600 rule. So did a json-data-server name spelling a deleted GoTrue
 * user's id (a UUID, shown in every record it owned under a readable rule). A name some record still
 * names as its owner is now taken, as the name of a user is.
 */
describe('a user name that records still name as their owner is taken', () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        dialects: { gotrue: { enabled: true }, jsonDataServer: { enabled: true } },
        data: { rules: { notes: 600, posts: 644 } },
      },
      files: {
        'db.json': JSON.stringify({
          users: [],
          notes: [{ id: 1, userId: 'carol', text: "carol's seeded note" }],
          posts: [],
        }),
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  async function register(username: string, password = PASSWORD) {
    return t.app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } });
  }

  async function notesOf(token: string): Promise<unknown[]> {
    const res = await t.app.inject({
      method: 'GET',
      url: '/notes',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as unknown[];
  }

  it("a deleted user's name stays taken while its records remain", async () => {
    const registered = await register('bob');
    assert.equal(registered.statusCode, 200, registered.body);
    const bob = (registered.json() as { access_token: string }).access_token;
    const written = await t.app.inject({
      method: 'POST',
      url: '/notes',
      headers: { authorization: `Bearer ${bob}` },
      payload: { text: "bob's diary" },
    });
    assert.equal(written.statusCode, 201, written.body);
    await t.services.admin.deleteUser(LOCAL_CALL, 'bob');

    for (const name of ['bob', ' bob ']) {
      const again = await register(name, ATTACKER_PASSWORD);
      assert.equal(again.statusCode, 400, `${JSON.stringify(name)}: ${again.body}`);
      assert.equal(again.body, 'User already registered');
    }
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'bob', password: ATTACKER_PASSWORD },
    });
    assert.equal(signIn.statusCode, 400, signIn.body);
  });

  it('a name only seeded records name is taken', async () => {
    const res = await register('carol', ATTACKER_PASSWORD);
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.body, 'User already registered');
  });

  it("a deleted GoTrue user's id, spelt as a user name, is refused (no user name is shaped as a uuid)", async () => {
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'dana@acme.test', password: PASSWORD },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    const { access_token: dana, user } = signUp.json() as { access_token: string; user: { id: string } };
    for (const [collection, text] of [
      ['notes', "dana's private note"],
      ['posts', "dana's public post, which shows her id"],
    ] as const) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/${collection}`,
        headers: { authorization: `Bearer ${dana}` },
        payload: { text },
      });
      assert.equal(res.statusCode, 201, res.body);
    }
    await t.services.admin.deleteUser(LOCAL_CALL, user.id);

    const res = await register(user.id, ATTACKER_PASSWORD);
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.body, 'User name must not be a user id');
  });

  it('a name no record names registers, and reads none of the others', async () => {
    const res = await register('erin');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(await notesOf((res.json() as { access_token: string }).access_token), []);
  });
});
