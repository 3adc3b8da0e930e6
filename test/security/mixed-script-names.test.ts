import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A user name is compared by its login key (NFKC, case-folded), which makes `ALICE`, `ａｌｉｃｅ` and
 * `alıce` the taken `alice`; but `аlice` with a Cyrillic `а` is another key, and it registered: a
 * second account that reads as the first person (in json-data-server the name is the user's id,
 * shown as the owner of every record). Now a new name may not mix scripts (UTS #39's single-script
 * rule at its highly restrictive level: Latin beside Japanese, Chinese or Korean allowed); a name in one script, any script, still registers.
 */

const PASSWORD = 'a real passphrase';

describe('user names that mix scripts are refused', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { jsonDataServer: {} },
      },
    });
  });
  after(() => t.close());

  const register = (url: string, username: string) =>
    t.app.inject({ method: 'POST', url, payload: { username, password: PASSWORD } });

  it('a Cyrillic or Greek look-alike of a taken Latin name: 400 validation_failed, for a json-data-server name (postgrest-auth takes ASCII only)', async () => {
    assert.equal((await register('/auth/register', 'alice')).statusCode, 200);
    assert.equal((await register('/auth/register', 'paypal')).statusCode, 200);
    for (const [url, name] of [
      ['/auth/register', '\u0430lice'],
      ['/auth/register', 'p\u0430yp\u0430l'],
      ['/auth/register', 'p\u03b1ypal'],
      ['/auth/register', 'Ivan_\u0418\u0432\u0430\u043d'],
    ] as const) {
      const refused = await register(url, name);
      assert.equal(refused.statusCode, 400, `${url} ${JSON.stringify(name)}: ${refused.body}`);
      assert.match(refused.body, /must not mix scripts/u);
      assert.equal(await t.services.store.findUserByUsername(name), null);
    }
  });

  it('a name in one script, or Latin beside Japanese, Chinese or Korean, with digits, marks and emoji, registers', async () => {
    for (const name of [
      '\u0418\u0432\u0430\u043d',
      '\u0397\u03c1\u03b1\u03ba\u03bb\u03ae\u03c2',
      'Zoë_2',
      '\u5c71\u7530\u305f\u308d\u3046',
      '\u30bf\u30ca\u30ab\u592a\u90ce',
      '\uae40\ucca0\uc218',
      '\u06A9\u06CC\u200C\u0647\u0627',
      'dev-\u{1F680}',
      'Zoë-\u6771\u4eac',
      'Kim\uae40',
    ]) {
      const registered = await register('/auth/register', name);
      assert.equal(registered.statusCode, 200, `${JSON.stringify(name)}: ${registered.body}`);
    }
  });
});
