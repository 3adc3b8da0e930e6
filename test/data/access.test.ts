import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Access rules with the digits json-server-auth documents (owner / logged-in
 * / public; 4 read, 2 write), enforced where json-server-auth is not, with
 * real restauth tokens. Records i-alice and i-bob belong to alice and bob;
 * carol owns nothing.
 */
const RULES = [600, 640, 644, 660, 664, 666, 444, 440];

const fixture = () =>
  JSON.stringify({
    // Hand-edited records with password fields (restauth never writes them): defence in depth.
    users: [
      { id: 'alice', password: 'should-never-leak' },
      { id: 'dave', password: 'aaa-also-hidden' },
      // Hashes as other tools' users files spell them, each compared without case, `_` or `-`.
      {
        id: 'erin',
        hashedPassword: '$2b$04$erin',
        'Password-Digest': '$2b$04$erin',
        ENCRYPTED_PASSWORD: '$2b$04$erin',
        passwd: 'erin-passwd',
        pwd_hash: 'erin-pwd',
        Salt: 'erin-salt',
      },
      // bob owns records, so his name is taken until he exists: he is a user by hand too.
      { id: 'bob' },
    ],
    ...Object.fromEntries(
      RULES.map((rule) => [
        `r${rule}`,
        [
          { id: 'i-alice', userId: 'alice', title: 'alice item' },
          { id: 'i-bob', userId: 'bob', title: 'bob item' },
        ],
      ]),
    ),
  });

describe('data API access rules', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};

  const send = async (method: string, url: string, who: string | null, body?: unknown) => {
    const response = await t.app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(who ? { authorization: `Bearer ${tokens[who]}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return {
      status: response.statusCode,
      body: response.body,
      json: () => response.json(),
      headers: response.headers,
    };
  };

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: {
        auth: { passwordSalt: 4 },
        rules: { ...Object.fromEntries(RULES.map((rule) => [`r${rule}`, rule])), users: 640 },
      },
      files: { 'db.json': fixture() },
    });
    // alice and bob exist in db.json by hand, without credentials: give them some through the API.
    for (const name of ['alice', 'bob']) {
      await t.services.store.replacePasswordHash(name, await t.services.hasher.hash(`${name}-pw`), null);
    }
    for (const name of ['carol']) {
      const res = await send('POST', '/auth/register', null, { username: name, password: `${name}-pw` });
      assert.equal(res.status, 200, res.body);
    }
    for (const name of ['alice', 'bob', 'carol']) {
      const res = await send('POST', '/auth/login', null, { username: name, password: `${name}-pw` });
      assert.equal(res.status, 200, res.body);
      tokens[name] = res.json().access_token;
    }
  });
  after(() => t.close());

  for (const rule of RULES) {
    const [owner, logged, anyone] = String(rule).split('').map(Number) as [number, number, number];
    const can = (digit: number, bit: number) => (digit & bit) !== 0;
    const path = `/r${rule}`;

    describe(`rule ${rule}`, () => {
      it('reading a list', async () => {
        const anonymous = await send('GET', path, null);
        assert.equal(anonymous.status, can(anyone, 4) ? 200 : 401);
        if (anonymous.status === 401) {
          // json-data-server's answer: the JSON string "No authorization".
          assert.equal(anonymous.body, '"No authorization"');
          assert.match(String(anonymous.headers['content-type']), /^application\/json/);
        }
        const alice = await send('GET', `${path}?_limit=10`, 'alice');
        if (can(anyone, 4) || can(logged, 4)) {
          assert.equal(alice.status, 200);
          assert.equal(alice.json().length, 2);
        } else if (can(owner, 4)) {
          assert.equal(alice.status, 200);
          assert.deepEqual(
            alice.json().map((r: { id: string }) => r.id),
            ['i-alice'],
          );
          assert.equal(alice.headers['x-total-count'], '1', 'X-Total-Count counts only the caller’s records');
          const carol = await send('GET', path, 'carol');
          assert.deepEqual(carol.json(), []);
        } else {
          assert.equal(alice.status, 403);
        }
      });

      it("reading someone else's record", async () => {
        const res = await send('GET', `${path}/i-bob`, 'alice');
        assert.equal(res.status, can(anyone, 4) || can(logged, 4) ? 200 : 403);
      });

      it('creating a record', async () => {
        const anonymous = await send('POST', path, null, { title: 'anon' });
        assert.equal(anonymous.status, can(anyone, 2) ? 201 : 401);
        const carol = await send('POST', path, 'carol', { title: 'carol item' });
        const expected = can(anyone, 2) || can(logged, 2) || can(owner, 2) ? 201 : 403;
        assert.equal(carol.status, expected, carol.body);
        if (expected === 201 && !can(logged, 2) && !can(anyone, 2)) {
          assert.equal(carol.json().userId, 'carol', 'an owner rule sets the owner to the caller');
          const forged = await send('POST', path, 'carol', { title: 'forged', userId: 'bob' });
          assert.equal(forged.status, 403, 'nobody creates records in another user’s name');
        }
      });

      it("changing someone else's record, and taking it over", async () => {
        const patch = await send('PATCH', `${path}/i-bob`, 'alice', { title: 'defaced' });
        const takeover = await send('PUT', `${path}/i-bob`, 'alice', { title: 'mine now', userId: 'alice' });
        const remove = await send('DELETE', `${path}/i-bob`, 'carol');
        if (can(anyone, 2) || can(logged, 2)) {
          assert.equal(patch.status, 200);
        } else {
          assert.equal(patch.status, 403);
          assert.equal(takeover.status, 403);
          assert.equal(remove.status, 403);
          const stored = await send('GET', `${path}/i-bob`, 'bob');
          if (stored.status === 200) assert.equal(stored.json().userId, 'bob');
        }
      });

      it('changing my own record, but not giving it away', async () => {
        const mine = await send('PATCH', `${path}/i-alice`, 'alice', { title: 'edited' });
        assert.equal(mine.status, can(anyone, 2) || can(logged, 2) || can(owner, 2) ? 200 : 403, mine.body);
        if (!can(anyone, 2) && !can(logged, 2) && can(owner, 2)) {
          const giveAway = await send('PATCH', `${path}/i-alice`, 'alice', { userId: 'bob' });
          assert.equal(giveAway.status, 403);
          const replaced = await send('PUT', `${path}/i-alice`, 'alice', { title: 'replaced' });
          assert.equal(replaced.status, 200);
          assert.equal(replaced.json().userId, 'alice', 'a PUT keeps the stored owner');
        }
      });
    });
  }

  describe('attacks json-server-auth does not stop', () => {
    it('GET /db shows only what the caller may read, and never a password', async () => {
      const res = await send('GET', '/db', 'carol');
      assert.equal(res.status, 200);
      const db = res.json();
      assert.deepEqual(
        db.r600.filter((r: { userId: string }) => r.userId !== 'carol'),
        [],
      );
      assert.equal(JSON.stringify(db).includes('should-never-leak'), false);
      assert.equal(JSON.stringify(db).includes('$2'), false, 'no bcrypt hash');
      // Without a token: only the collections whose public digit allows reading.
      const anonymous = await send('GET', '/db', null);
      assert.equal(anonymous.status, 200);
      assert.deepEqual(Object.keys(anonymous.json()).sort(), ['r444', 'r644', 'r664', 'r666']);
    });

    it('a users query cannot probe a secret field (filters and sorts see what is shown)', async () => {
      // A filter on a field no shown record has is ignored (json-server's rule): right and wrong guesses look alike.
      const list = async (query: string) => (await send('GET', `/users${query}`, 'alice')).json();
      assert.deepEqual(await list('?password=should-never-leak'), await list('?password=wrong-guess'));
      assert.deepEqual(await list('?password_like=^should'), []);
      assert.deepEqual(await list('?q=never-leak'), []);
      // Sorting by the raw field would put dave ("aaa…") before alice.
      assert.deepEqual(await list('?_sort=password'), await list(''));
    });

    it('no write hands a record to someone else, whatever the rule', async () => {
      // r660: every logged-in user may write every record, but not re-assign or forge its owner.
      const bobs = await send('POST', '/r660', 'bob', { id: 'bob-2', title: 'bob again', userId: 'bob' });
      assert.equal(bobs.status, 201);
      const reassign = await send('PATCH', '/r660/bob-2', 'alice', { userId: 'alice' });
      assert.equal(reassign.status, 403);
      const replaced = await send('PUT', '/r660/bob-2', 'alice', { title: 'rewritten' });
      assert.equal(replaced.status, 200);
      assert.equal(replaced.json().userId, 'bob', 'a PUT cannot disown a record either');
      const forged = await send('POST', '/r660', 'alice', { title: 'as bob', userId: 'bob' });
      assert.equal(forged.status, 403);
      const own = await send('POST', '/r660', 'alice', { title: 'as me', userId: 'alice' });
      assert.equal(own.status, 201);
      // r666: anonymous writes are allowed, but cannot name an owner.
      assert.equal((await send('POST', '/r666', null, { title: 'anon', userId: 'bob' })).status, 403);
    });

    it('_expand=user and _embed never carry secrets or other users’ records', async () => {
      const expanded = await send('GET', '/r660?_expand=user', 'alice');
      assert.equal(expanded.status, 200);
      assert.equal(JSON.stringify(expanded.json()).includes('should-never-leak'), false);
      const alice = expanded.json().find((r: { id: string }) => r.id === 'i-alice');
      assert.equal(alice.user.id, 'alice');
      const users = await send('GET', '/users/alice', 'bob');
      assert.equal(users.status, 200);
      assert.equal('password' in users.json(), false);
    });

    it('a secret field is hidden, and refused on a write, however it is spelled', async () => {
      const erin = await send('GET', '/users/erin', 'bob');
      assert.equal(erin.status, 200, erin.body);
      assert.deepEqual(erin.json(), { id: 'erin' });
      const list = async (query: string) => (await send('GET', `/users${query}`, 'alice')).json();
      assert.deepEqual(await list('?hashedPassword_like=erin'), []);
      assert.deepEqual(await list('?pwd_hash=erin-pwd'), await list('?pwd_hash=wrong'));
      for (const key of ['hashedPassword', 'password-digest', 'PASSWD', 'pwdHash']) {
        const res = await send('PATCH', '/users/carol', 'carol', { [key]: 'x' });
        assert.equal(res.status, 400, `${key}: ${res.body}`);
      }
    });

    it('the users collection: no creation, no edits by others, no password writes', async () => {
      assert.equal((await send('POST', '/users', 'carol', { id: 'mallory', password: 'x' })).status, 403);
      assert.equal((await send('PATCH', '/users/alice', 'bob', { nick: 'owned' })).status, 403);
      assert.equal((await send('PATCH', '/users/alice', 'alice', { password: 'new' })).status, 400);
      assert.equal((await send('PATCH', '/users/alice', 'alice', { id: 'bob' })).status, 403);
      const own = await send('PATCH', '/users/alice', 'alice', { nick: 'Al' });
      assert.equal(own.status, 200, own.body);
      assert.equal(own.json().nick, 'Al');
      assert.equal((await send('DELETE', '/users/alice', 'alice')).status, 403);
      // The edit did not break her login.
      assert.equal(
        (await send('POST', '/auth/login', null, { username: 'alice', password: 'alice-pw' })).status,
        200,
      );
    });

    it('a token that was logged out, or is garbage, is refused with 401', async () => {
      const login = await send('POST', '/auth/login', null, { username: 'carol', password: 'carol-pw' });
      const token = login.json().access_token;
      assert.equal(
        (await t.app.inject({ url: '/r660', headers: { authorization: `Bearer ${token}` } })).statusCode,
        200,
      );
      await send('POST', '/auth/logout', null, { access_token: token });
      const after = await t.app.inject({ url: '/r660', headers: { authorization: `Bearer ${token}` } });
      assert.equal(after.statusCode, 401);
      assert.equal(
        (await t.app.inject({ url: '/r660', headers: { authorization: 'Bearer nope' } })).statusCode,
        401,
      );
      assert.equal(
        (await t.app.inject({ url: '/r660', headers: { authorization: 'Basic abc' } })).statusCode,
        401,
      );
    });
  });
});
