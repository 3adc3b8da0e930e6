import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * The file store's mail queue is a file of its own, written after the
 * account's commit: a queue that cannot be written must not leave a sign-up
 * half-done (an account whose owner was told it failed, and gets "already
 * registered" on retrying). The sign-up stands; the mail failure is logged.
 */
describe('sign-up with an unwritable mail queue (file store)', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        signup: { confirmEmail: false },
        email: { host: '127.0.0.1', port: 9, secure: false, ignoreTLS: true, from: 'auth@acme.test' },
      },
    });
    // Once started, a directory where the queue file should be: every write of the queue fails
    // (its atomic rename cannot replace a directory).
    const queue = join(t.dir, '.restauth', 'mail-queue.json');
    await rm(queue, { force: true });
    await mkdir(queue, { recursive: true });
  });
  after(() => t.close());

  it('answers the sign-up with a working session, and the account is whole', async () => {
    const registered = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'unqueued', password: 'a long passphrase', email: 'unqueued@acme.test' },
    });
    assert.equal(registered.statusCode, 200, registered.body);
    const checked = await t.app.inject({
      method: 'POST',
      url: '/auth/check',
      payload: { access_token: registered.json().access_token },
    });
    assert.deepEqual(checked.json(), { valid: true });
    await t.services.idle();
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'unqueued', password: 'a long passphrase' },
    });
    assert.equal(signIn.statusCode, 200, signIn.body);
  });
});
