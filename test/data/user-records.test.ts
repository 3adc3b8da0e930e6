import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * A user's own record through the data API: the profile is theirs to edit,
 * the identity and security fields are not (they change through the auth
 * routes). The attack: an account without an address writes a victim's
 * address onto its record, which the store used to read as the account's
 * email when the account had none.
 */
describe('data API: identity fields of user records', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};

  const send = (method: string, url: string, who: string, body?: unknown) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${tokens[who]}` },
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } },
      // erin's record holds an address, as records written by earlier versions or by hand do.
      files: {
        'db.json': JSON.stringify({ users: [{ id: 'erin', email: 'erin@example.test', nickname: 'e' }] }),
      },
    });
    await t.services.store.replacePasswordHash(
      'erin',
      await t.services.hasher.hash('erin-password-123'),
      null,
    );
    const victim = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'victim@example.test', password: 'victim-password-123' },
    });
    assert.equal(victim.statusCode, 200, victim.body);
    tokens.mallory = await registeredToken(t, 'mallory', 'mallory-password-123');
    const erin = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'erin', password: 'erin-password-123' },
    });
    assert.equal(erin.statusCode, 200, erin.body);
    tokens.erin = erin.json().access_token;
  });
  after(() => t.close());

  it("an account without an address cannot write another user's address onto its record", async () => {
    const before = (await send('GET', '/users/mallory', 'mallory')).json();
    const res = await send('PATCH', '/users/mallory', 'mallory', { email: 'victim@example.test' });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json().message, /email is an identity field/);
    assert.deepEqual((await send('GET', '/users/mallory', 'mallory')).json(), before);
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email: 'victim@example.test', password: 'mallory-password-123' },
    });
    assert.equal(signIn.statusCode, 400, 'the address still signs in only its owner');
  });

  it('every identity or security field is refused, whatever its spelling', async () => {
    const fields = {
      Email: 'x@example.test',
      phone: '+15550100',
      role: 'service_role',
      username: 'admin',
      app_metadata: { role: 'admin' },
      appMetadata: { provider: 'email' },
      email_confirmed_at: '2020-01-01T00:00:00Z',
      banned_until: null,
      'token-version': 0,
      is_super_admin: true,
      aud: 'authenticated',
    };
    for (const [field, value] of Object.entries(fields)) {
      for (const method of ['PATCH', 'PUT']) {
        const res = await send(method, '/users/mallory', 'mallory', { [field]: value });
        assert.equal(res.statusCode, 400, `${method} ${field}: ${res.body}`);
        assert.match(res.json().message, /identity field/);
      }
    }
  });

  it('the profile is editable; a record sent back unchanged passes, and PUT keeps identity fields', async () => {
    const stored = (await send('GET', '/users/erin', 'erin')).json();
    assert.equal(stored.email, 'erin@example.test');
    const patched = await send('PATCH', '/users/erin', 'erin', { nickname: 'Erin', bio: 'hi' });
    assert.equal(patched.statusCode, 200, patched.body);
    // What a client does: read the record, change a field, send it all back.
    const roundTrip = await send('PUT', '/users/erin', 'erin', { ...stored, nickname: 'E.' });
    assert.equal(roundTrip.statusCode, 200, roundTrip.body);
    const replaced = await send('PUT', '/users/erin', 'erin', { nickname: 'only this' });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.deepEqual(replaced.json(), { id: 'erin', nickname: 'only this', email: 'erin@example.test' });
    const changed = await send('PUT', '/users/erin', 'erin', { email: 'other@example.test' });
    assert.equal(changed.statusCode, 400);
  });

  it("another user's record stays out of reach (403), whatever the body", async () => {
    for (const method of ['PATCH', 'PUT']) {
      const res = await send(method, '/users/erin', 'mallory', { nickname: 'owned' });
      assert.equal(res.statusCode, 403, `${method}: ${res.body}`);
    }
    assert.equal((await send('GET', '/users/erin', 'erin')).json().nickname, 'only this');
  });
});
