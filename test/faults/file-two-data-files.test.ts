import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * Two servers started by mistake in one folder on two data files (`restauth a.json`, then
 * `restauth b.json`, as json-server users run two mock APIs): credentials.json's default path is
 * beside the data file, so both named the same credentials.json and its journal, each under its own
 * data file's lock. The second must be refused, naming credentials.json, and the first go on.
 */
describe('a second server on another data file in the same folder', () => {
  const apps: TestApp[] = [];
  let dir: string;
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const start = (dataFile: string) =>
    createTestApp({
      format: 'restauth',
      dir,
      config: {
        store: { type: 'file', dataFile },
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        dialects: { gotrue: {} },
      },
    });
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
    dir = await mkdtemp(join(tmpdir(), 'restauth-two-data-files-'));
    // Two mock APIs' data files side by side (a data file missing beside users' credentials is refused anyway).
    for (const name of ['a.json', 'b.json']) await writeFile(join(dir, name), '{"users": [], "posts": []}\n');
    const first = await start('a.json');
    apps.push(first);
    assert.equal((await signUp(first, 'first@acme.test')).statusCode, 200);

    await assert.rejects(start('b.json'), /credentials\.json is in use by another restauth/u);

    assert.equal((await signUp(first, 'second@acme.test')).statusCode, 200);
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    const restarted = await start('a.json');
    apps.push(restarted);
    for (const email of ['first@acme.test', 'second@acme.test']) {
      assert.equal((await signIn(restarted, email)).statusCode, 200, email);
    }
    // Once the first is stopped, the other data file may be served (alone).
    await restarted.close();
    apps.splice(apps.indexOf(restarted), 1);
    apps.push(await start('b.json'));
  });
});
