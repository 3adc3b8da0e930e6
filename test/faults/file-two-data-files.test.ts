import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { serversInOneFolder } from '../support/servers-in-one-folder.js';

/**
 * Two servers started by mistake in one folder on two data files (`restauth a.json`, then
 * `restauth b.json`, as json-server users run two mock APIs): credentials.json's default path is
 * beside the data file, so both named the same credentials.json and its journal, each under its own
 * data file's lock. The second must be refused, naming credentials.json, and the first go on.
 */
describe('a second server on another data file in the same folder', () => {
  const folder = serversInOneFolder('restauth-two-data-files-');
  const start = (dataFile: string) => folder.start({ dataFile });
  const signUp = (t: TestApp, email: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email, password: 'a passphrase of some length' },
    });
  const signIn = (t: TestApp, email: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email, password: 'a passphrase of some length' },
    });

  it('is refused while the first runs, naming credentials.json; the first keeps its users', async () => {
    // Two mock APIs' data files side by side (a data file missing beside users' credentials is refused anyway).
    await folder.make(['a.json', 'b.json']);
    const first = await start('a.json');
    assert.equal((await signUp(first, 'first@acme.test')).statusCode, 200);

    await assert.rejects(start('b.json'), /credentials\.json is in use by another restauth/u);

    assert.equal((await signUp(first, 'second@acme.test')).statusCode, 200);
    await folder.stop(first);
    const restarted = await start('a.json');
    for (const email of ['first@acme.test', 'second@acme.test']) {
      assert.equal((await signIn(restarted, email)).statusCode, 200, email);
    }
    // Once the first is stopped, the other data file may be served (alone).
    await folder.stop(restarted);
    await start('b.json');
  });
});
