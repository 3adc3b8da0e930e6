import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { JSON_SERVER_AUTH_USERS as USERS, jsonServerAuthProject } from '../support/json-server-auth.js';

/**
 * A db.json json-server-auth wrote (its users registered through json-server-auth 2.1.0 itself, their
 * bcryptjs hashes in `password`) taken over by restauth: the hashes move to credentials.json, those
 * users sign in unchanged, and nothing restauth fixed comes back.
 */

describe('restauth on a db.json json-server-auth wrote', () => {
  let dir: string;
  let t: TestApp;
  const lines: string[] = [];
  let hashes: string[];

  const start = () =>
    createTestApp({
      format: 'restauth',
      dir,
      logger: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
    });

  before(async () => {
    dir = await jsonServerAuthProject();
    const written = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as {
      users: Array<{ password: string }>;
    };
    hashes = written.users.map((user) => user.password);
    assert.ok(
      hashes.every((hash) => /^\$2[ab]\$10\$/.test(hash)),
      'json-server-auth stored bcrypt hashes',
    );
    t = await start();
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('moves the hashes to credentials.json, out of db.json, saying so once without a hash', async () => {
    const db = await readFile(join(dir, 'db.json'), 'utf8');
    assert.doesNotMatch(db, /"password"|\$2[aby]\$/);
    const credentials = await readFile(join(dir, 'credentials.json'), 'utf8');
    for (const hash of hashes) assert.ok(credentials.includes(hash));
    const said = lines.filter((line) =>
      /held the bcrypt password hashes of 2 json-server-auth user/.test(line),
    );
    assert.equal(said.length, 1, lines.join('\n'));
    assert.ok(
      lines.every((line) => !/\$2[aby]\$/.test(line)),
      'no hash in the log',
    );
    // The records keep everything else json-server-auth stored, their ids included.
    const records = (JSON.parse(db) as { users: Array<Record<string, unknown>> }).users;
    assert.deepEqual(records, [
      { email: 'olivier@mail.com', firstname: 'Olivier', id: 1 },
      { email: 'jeremy@mail.com', firstname: 'Jeremy', id: 2 },
    ]);
  });

  it('its users sign in with their passwords, through json-server-auth and GoTrue routes alike', async () => {
    for (const [index, user] of USERS.entries()) {
      const login = await t.app.inject({
        method: 'POST',
        url: '/login',
        payload: { email: user.email, password: user.password },
      });
      assert.equal(login.statusCode, 200, login.body);
      assert.deepEqual(login.json().user, { email: user.email, firstname: user.firstname, id: index + 1 });
      const gotrue = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: user.email, password: user.password },
      });
      assert.equal(gotrue.statusCode, 200, gotrue.body);
      const wrong = await t.app.inject({
        method: 'POST',
        url: '/login',
        payload: { email: user.email, password: 'not it at all' },
      });
      assert.equal(wrong.statusCode, 400);
    }
  });

  it('owner rules hold on their records, and no hash is served', async () => {
    const token = async (user: (typeof USERS)[number]) =>
      (
        await t.app.inject({
          method: 'POST',
          url: '/login',
          payload: { email: user.email, password: user.password },
        })
      ).json().accessToken as string;
    const [olivier, jeremy] = [await token(USERS[0]!), await token(USERS[1]!)];
    const patch = (url: string, bearer: string) =>
      t.app.inject({
        method: 'PATCH',
        url,
        payload: { title: 'edited' },
        headers: { authorization: `Bearer ${bearer}` },
      });
    // The users collection's rule, 600: each user's record is theirs (its id is the token's sub, "1").
    assert.equal((await patch('/users/2', olivier)).statusCode, 403);
    const own = await t.app.inject({
      method: 'GET',
      url: '/users/1',
      headers: { authorization: `Bearer ${olivier}` },
    });
    assert.equal(own.statusCode, 200);
    assert.deepEqual(own.json(), { email: 'olivier@mail.com', firstname: 'Olivier', id: 1 });
    const db = await t.app.inject({
      method: 'GET',
      url: '/db',
      headers: { authorization: `Bearer ${jeremy}` },
    });
    assert.doesNotMatch(db.body, /\$2[aby]\$|password/);
    // A password is not set through the data API (json-server-auth hashed one into db.json).
    const sneaked = await t.app.inject({
      method: 'PATCH',
      url: '/users/1',
      payload: { password: 'new password here' },
      headers: { authorization: `Bearer ${olivier}` },
    });
    assert.equal(sneaked.statusCode, 400);
  });

  it('a restart finds nothing to take over and its users still sign in', async () => {
    await t.close();
    lines.length = 0;
    t = await start();
    assert.ok(
      lines.every((line) => !/held the bcrypt password hashes/.test(line)),
      lines.join('\n'),
    );
    const login = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: USERS[1]!.email, password: USERS[1]!.password },
    });
    assert.equal(login.statusCode, 200, login.body);
  });
});
