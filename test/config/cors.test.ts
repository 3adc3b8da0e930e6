import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { load, tempDir, writeJson } from '../support/config.js';

/** The cors setting as each source states it, and origin lists checked at start, not at the first request. */
describe('cors setting', () => {
  const secret = { jwt: { secret: 'config-test-secret-0123456789abcdef-0123' } };

  it('allows any origin by default, as json-server', async () => {
    const dir = await tempDir();
    await writeJson(dir, 'restauth.json', secret);
    assert.equal((await load(dir)).config.cors, true);
  });

  it('keeps listed origins as browsers write them', async () => {
    const dir = await tempDir();
    await writeJson(dir, 'restauth.json', {
      ...secret,
      cors: ['https://App.Example.com:443/', 'http://localhost:5173', 'capacitor://localhost'],
    });
    assert.deepEqual((await load(dir)).config.cors, [
      'https://app.example.com',
      'http://localhost:5173',
      'capacitor://localhost',
    ]);
  });

  for (const entry of [
    'https://app.example.com/path',
    'https://app.example.com?x=1',
    'https://u:p@app.example.com',
    'app.example.com',
    '*',
  ]) {
    it(`refuses ${JSON.stringify(entry)} in a list, naming it`, async () => {
      const dir = await tempDir();
      await writeJson(dir, 'restauth.json', { ...secret, cors: [entry] });
      await assert.rejects(load(dir), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /cors\[0\] must be an origin/);
        // A password in the entry is not repeated (refused-url-passwords.test.ts).
        assert.ok(error.message.includes(JSON.stringify(entry.replace(':p@', ':[redacted]@'))));
        return true;
      });
    });
  }

  it('reads RESTAUTH_CORS_ORIGINS: *, false or a comma-separated list', async () => {
    const dir = await tempDir();
    await writeJson(dir, 'restauth.json', secret);
    const cors = async (value: string) =>
      (await load(dir, { env: { RESTAUTH_CORS_ORIGINS: value } })).config.cors;
    assert.equal(await cors('*'), true);
    assert.equal(await cors('false'), false);
    assert.deepEqual(await cors('https://a.example.com, https://b.example.com'), [
      'https://a.example.com',
      'https://b.example.com',
    ]);
  });

  it("maps json-server's no-cors in a json-data-server config.json to cors: false", async () => {
    const dir = await tempDir();
    await writeJson(dir, 'config.json', { 'no-cors': true });
    const { config, warnings } = await load(dir, { env: { RESTAUTH_DEV: '1' } });
    assert.equal(config.cors, false);
    assert.ok(!warnings.some((warning) => warning.includes('no-cors')), warnings.join('\n'));
  });
});
