import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

const PASSWORD = 'a long passphrase';

/**
 * json-data-server's registration keeps every extra field on the user's public db.json record, and
 * its user name becomes that record's id. The data API refuses a user's write of an identity field
 * whatever its spelling (`Email`, `ROLE`, `is_anonymous`) and keeps such fields through a PUT, as
 * facts only the auth routes set; the registration refused the exact names only, so `Role: "admin"`
 * set at sign-up stayed on the record for good, beside the account's real role. And a user named
 * `.` or `..` had a record no URL reaches: /users/.. resolves to the home page.
 */
describe('json-data-server registration: fields and names the data API reads otherwise', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify({ users: [] }) },
    });
  });
  after(() => t.close());

  const register = (body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/auth/register', payload: { password: PASSWORD, ...body } });

  it('an identity field under another case or separator is refused, and no user is made', async () => {
    // A password-like field (`Password`, `passwordConfirm`) is left out of the record, not refused
    // (json-server-auth's sign-up forms): test/http/identity.test.ts and json-server-auth/dialect check it.
    const fields = ['Role', 'EMAIL', 'is_anonymous', 'Email-Confirmed-At', 'isSuperAdmin', 'ID'];
    for (const [n, field] of fields.entries()) {
      const id = `spelled${n}`;
      const res = await register({ id, [field]: field === 'is_anonymous' ? false : 'admin' });
      assert.equal(res.statusCode, 400, `${field}: ${res.body}`);
      assert.ok(res.body.includes(field), `${field} is named: ${res.body}`);
      assert.equal(await t.services.store.findUserByUsername(id), null, `${field}: no user ${id}`);
    }
    const plain = await register({ id: 'plain', nickname: 'Pat', roleDescription: 'editor' });
    assert.equal(plain.statusCode, 200, plain.body);
  });

  it('"." and ".." are refused as user names; "..." is a name whose record the data API reaches', async () => {
    for (const id of ['.', '..']) {
      const res = await register({ id });
      assert.equal(res.statusCode, 400, `${id}: ${res.body}`);
      assert.equal(await t.services.store.findUserByUsername(id), null);
    }
    const dots = await register({ id: '...' });
    assert.equal(dots.statusCode, 200, dots.body);
    const token = (dots.json() as { access_token: string }).access_token;
    const own = await t.app.inject({
      method: 'GET',
      url: '/users/...',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(own.statusCode, 200, own.body);
    assert.equal((own.json() as { id: string }).id, '...');
  });
});
