import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createTestApp } from '../support/app.js';
import { cliTempDir, runCli } from '../support/run-cli.js';

/**
 * `restauth users show` prints to an operator's terminal what users wrote: GoTrue's user_metadata
 * is stored as given, so it may hold a C1 control (U+009B, CSI: a terminal reads what follows as a
 * command) or U+202E (the rest of the line shown reversed). The CLI prints each as its escape, in
 * its text and in its JSON (which still parses to what is stored).
 */
const ENV = {
  RESTAUTH_JWT_SECRET: 'a-private-secret-for-the-users-cli-0123456789',
  RESTAUTH_RATE_LIMITS: 'off',
};
const HIDDEN = /[\u009B\u202E]/u;

describe('restauth users show: hidden characters of stored user data', () => {
  it('prints them escaped in text and JSON; the JSON reads back as stored', async () => {
    const dir = await cliTempDir();
    const config = { passwords: { algorithm: 'bcrypt', bcryptRounds: 4 }, signup: { confirmEmail: false } };
    await writeFile(join(dir, 'restauth.json'), JSON.stringify(config));
    const metadata = { display: 'moc.\u202Eevil', clear: '\u009B2J' };
    const t = await createTestApp({ format: 'restauth', config, env: ENV, dir, keepConfigFile: true });
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 'shown@acme.test', password: 'a passphrase of words', data: metadata },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json().user.user_metadata, metadata, 'user_metadata is kept as given');
    } finally {
      await t.close();
    }

    const text = await runCli(dir, ['users', 'show', 'shown@acme.test'], ENV);
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, HIDDEN);
    assert.ok(text.stdout.includes('moc.\\u202eevil'), text.stdout);
    assert.ok(text.stdout.includes('\\u009b2J'), text.stdout);

    const json = await runCli(dir, ['users', 'show', 'shown@acme.test', '--json'], ENV);
    assert.equal(json.code, 0, json.stderr);
    assert.doesNotMatch(json.stdout, HIDDEN);
    assert.deepEqual(JSON.parse(json.stdout).profile, metadata);
  });
});
