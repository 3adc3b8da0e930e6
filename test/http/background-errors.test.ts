import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createTestApp, type TestApp } from '../support/app.js';
import { lineSink } from '../support/log-lines.js';

/**
 * Work done after an answer (here the confirmation mail of a sign-up) that
 * fails is logged with its error object: its code and stack reach the log,
 * not only its message, so an operator can tell a full disk from a bug.
 */
describe('a failure after the answer is logged with its error', () => {
  let t: TestApp;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    const sink = lineSink((line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        signup: { confirmEmail: true },
        email: { host: '127.0.0.1', port: 9, secure: false, ignoreTLS: true, from: 'auth@acme.test' },
      },
      log: pino({ level: 'info' }, sink),
    });
    // A directory where the queue file should be: every write of the mail queue fails.
    const queue = join(t.dir, '.restauth', 'mail-queue.json');
    await rm(queue, { force: true });
    await mkdir(queue, { recursive: true });
  });
  after(() => t.close());

  it('the confirmation mail that cannot be queued is a warning carrying the error', async () => {
    const signedUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'unconfirmed@acme.test', password: 'a long passphrase' },
    });
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    await t.services.idle();
    const warnings = lines.filter((line) => line.level === 40);
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    const err = warnings[0]!.err as { type?: string; message?: string; stack?: string; code?: string };
    assert.ok(err, `logged with its error: ${JSON.stringify(warnings[0])}`);
    assert.equal(typeof err.code, 'string');
    assert.match(err.stack ?? '', /\n\s+at /u, 'with its stack');
    assert.equal(warnings[0]!.msg, `restauth: ${err.message}`);
  });
});
