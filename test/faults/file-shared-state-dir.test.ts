import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * Two servers with files of their own (data and credentials) but one state folder (the default
 * `.restauth` of the folder they start in, or one --state-dir): both wrote .restauth/mail-queue.json
 * from their own memory, each dropping mails the other queued and sending the other's. The second
 * must be refused, naming the mail queue, and start once the first has stopped.
 */
describe('a second server on the same state folder', () => {
  const apps: TestApp[] = [];
  let dir: string;
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const start = (name: string) =>
    createTestApp({
      format: 'restauth',
      dir,
      config: {
        store: { type: 'file', dataFile: `${name}.json`, credentialsFile: `${name}-credentials.json` },
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        dialects: { gotrue: {} },
      },
    });

  it('is refused while the first runs, naming mail-queue.json; it starts once the first stopped', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-shared-state-'));
    for (const name of ['a.json', 'b.json']) await writeFile(join(dir, name), '{"users": [], "posts": []}\n');
    const first = await start('a');
    apps.push(first);

    await assert.rejects(start('b'), /mail-queue\.json is in use by another restauth/u);

    const signUp = await first.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'first@acme.test', password: 'a passphrase of some length' },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    apps.push(await start('b'));
  });
});
