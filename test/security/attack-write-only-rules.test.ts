import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * A rule may let a caller write what it does not let them read: `messages: 602` (anyone submits a
 * message, each signed-in owner reads their own, as a contact form), `inbox: 620`, or a singular
 * `settings: 620`. The write's answer is the stored record, so `PATCH /messages/1 {}`, sent by
 * anyone, read alice's message whole, as PATCH of a singular resource read it, and json-server 1.x's
 * DELETE answered the record it removed. And a record stored without an owner could be claimed
 * (`PATCH {"userId": <me>}`), which made it the claimant's to read; under these rules every record
 * a signed-in caller made was such a one, the owner being filled in only where the rule limited
 * their writes. Now a write answers a caller who may not read the record with what they sent
 * under its id, no write gives a stored record an owner, and a new record is its maker's where the
 * rule limits their reads to their own. Over HTTP on a real app on files, both json-server modes.
 */

const PASSWORD = 'a long passphrase';
const RULES = { messages: 602, inbox: 620, settings: 620 };
const DB = {
  users: [],
  messages: [],
  inbox: [{ id: 'seeded', text: 'a record seeded without an owner' }],
  settings: { smtpPassword: 'the operator’s' },
};

for (const jsonServer of ['0.17', '1'] as const) {
  describe(`rules that let a caller write more than read (json-server ${jsonServer})`, () => {
    let t: TestApp;
    let alice = '';
    let bob = '';

    before(async () => {
      t = await createTestApp({
        format: 'json-data-server',
        config: { auth: { passwordSalt: 4 }, rules: RULES },
        ...(jsonServer === '1' ? { overrides: { data: { jsonServer } } } : {}),
        files: { 'db.json': JSON.stringify(DB) },
      });
      alice = await registeredToken(t, 'alice', PASSWORD);
      bob = await registeredToken(t, 'bob', PASSWORD);
    });
    after(() => t.close());

    const send = (
      method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
      url: string,
      token: string | null,
      payload?: object,
    ) =>
      t.app.inject({
        method,
        url,
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        ...(payload === undefined ? {} : { payload }),
      });

    /** The user id a token is for. */
    const subOf = (token: string) =>
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string };

    /**
     * Alice's record in `collection`: made by her, readable by her, its id. `namingHerself`: the
     * record names her as its owner (else the rule's own filling-in is what makes it hers).
     */
    async function alicesRecord(
      collection: string,
      text: string,
      namingHerself = true,
    ): Promise<string | number> {
      const owner = namingHerself ? { userId: subOf(alice).sub } : {};
      const made = await send('POST', `/${collection}`, alice, { text, ...owner });
      assert.equal(made.statusCode, 201, made.body);
      const id = made.json<{ id: string | number }>().id;
      const read = await send('GET', `/${collection}/${id}`, alice);
      assert.equal(read.statusCode, 200, `alice reads what she made: ${read.body}`);
      assert.equal(read.json<{ text: string }>().text, text);
      return id;
    }

    it("a PATCH or PUT of another's record answers what it sent, not the record", async () => {
      const secret = `alice's message ${jsonServer}`;
      const id = await alicesRecord('messages', secret);
      assert.equal((await send('GET', `/messages/${id}`, bob)).statusCode, 403, 'bob may not read it');
      for (const [who, token] of [
        ['anyone', null],
        ['bob', bob],
      ] as const) {
        const patched = await send('PATCH', `/messages/${id}`, token, { seen: true });
        assert.equal(patched.statusCode, 200, patched.body);
        assert.deepEqual(patched.json(), { seen: true, id }, `${who}'s PATCH`);
      }
      // The write itself is the rule's: it happened.
      const read = await send('GET', `/messages/${id}`, alice);
      assert.deepEqual(read.json<{ seen: boolean; text: string }>().seen, true);
      assert.equal(read.json<{ text: string }>().text, secret);
      const replaced = await send('PUT', `/messages/${id}`, null, { text: 'replaced' });
      assert.equal(replaced.statusCode, 200, replaced.body);
      assert.deepEqual(replaced.json(), { text: 'replaced', id }, 'no owner in the answer either');
    });

    it("a DELETE of another's record answers no more than its id", async () => {
      const id = await alicesRecord('messages', `alice's message to delete ${jsonServer}`);
      const deleted = await send('DELETE', `/messages/${id}`, bob);
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.doesNotMatch(deleted.body, /to delete/u);
      assert.equal((await send('GET', `/messages/${id}`, alice)).statusCode, 404, 'deleted');
    });

    it('a record alice makes without naming herself is hers; her write answers it whole', async () => {
      const id = await alicesRecord('inbox', `alice's note ${jsonServer}`, false);
      assert.equal((await send('GET', `/inbox/${id}`, bob)).statusCode, 403, 'and not bob’s to read');
      const patched = await send('PATCH', `/inbox/${id}`, alice, { seen: true });
      assert.equal(patched.json<{ text: string }>().text, `alice's note ${jsonServer}`);
    });

    it('a record stored without an owner is claimed by no write', async () => {
      for (const payload of [{ userId: 'bob' }, { text: 'mine now', userId: 'bob' }]) {
        for (const method of ['PATCH', 'PUT'] as const) {
          const claimed = await send(method, '/inbox/seeded', bob, payload);
          assert.equal(claimed.statusCode, 403, `${method} ${JSON.stringify(payload)}: ${claimed.body}`);
          assert.match(claimed.json<{ message: string }>().message, /cannot change userId/u);
        }
      }
      assert.equal((await send('GET', '/inbox/seeded', bob)).statusCode, 403, 'still nobody’s to read');
      // Not naming the owner, or naming none, is no claim.
      assert.equal((await send('PATCH', '/inbox/seeded', bob, { userId: null })).statusCode, 200);
    });

    it('a PATCH of a singular resource the caller may not read answers what it sent', async () => {
      assert.equal((await send('GET', '/settings', bob)).statusCode, 403);
      const patched = await send('PATCH', '/settings', bob, { theme: 'dark' });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.deepEqual(patched.json(), { theme: 'dark' });
    });
  });
}
