import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A record POSTed without an id gets json-server's max + 1. From 2^53 on, max + 1 is the max itself:
 * an attacker who may write a collection POSTs `{"id": 9007199254740992}`, and every record created
 * after it got that same id; `GET /notes/9007199254740992` answered the attacker's record to its
 * victims, and their own records were out of reach by id. A generated id is never one a record has.
 */
const HUGE = 2 ** 53;

describe('a generated id is never one a record already has', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};

  const send = async (method: 'GET' | 'POST' | 'PATCH', url: string, who: string, body?: unknown) => {
    const res = await t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokens[who]}` },
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: res.statusCode, body: res.body, json: () => res.json<Record<string, unknown>>() };
  };

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { notes: 644 } },
      files: { 'db.json': JSON.stringify({ users: [], notes: [{ id: HUGE - 1, title: 'first' }] }) },
    });
    for (const name of ['mallory', 'victor']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: name, password: `${name}-passphrase` },
      });
      assert.equal(res.statusCode, 200, res.body);
      tokens[name] = String(res.json<Record<string, unknown>>()['access_token']);
    }
  });
  after(() => t.close());

  it("the victim's record gets an id of its own, and reads and writes by it reach that record", async () => {
    const taken = await send('POST', '/notes', 'mallory', { id: HUGE, title: 'mallory' });
    assert.equal(taken.status, 201, taken.body);
    const ids = new Set<unknown>([HUGE - 1, HUGE]);
    for (const title of ['victor 1', 'victor 2']) {
      const created = await send('POST', '/notes', 'victor', { title });
      assert.equal(created.status, 201, created.body);
      const id = created.json()['id'];
      assert.ok(!ids.has(id), `${title} got id ${String(id)}, which a record already has`);
      ids.add(id);
      const read = await send('GET', `/notes/${String(id)}`, 'victor');
      assert.equal(read.json()['title'], title);
      const edited = await send('PATCH', `/notes/${String(id)}`, 'victor', { title: `${title}, edited` });
      assert.equal(edited.status, 200, edited.body);
    }
    const list = await send('GET', '/notes', 'victor');
    const titles = list.json() as unknown as { title: string }[];
    assert.deepEqual(
      titles.map((note) => note.title),
      ['first', 'mallory', 'victor 1, edited', 'victor 2, edited'],
    );
  });
});
