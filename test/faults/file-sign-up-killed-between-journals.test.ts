import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp } from '../support/app.js';
import { exitOf, within } from '../support/child-waits.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { spawnTsScript } from '../support/process.js';

/**
 * A sign-up on the file store is two appends: the account and password to credentials.json's journal,
 * then the user's record to db.json's. A child restauth is SIGKILLed exactly between them (the first is
 * fdatasynced, the second not begun): the kill falls there every run, not by timing. After a restart
 * there must be no half-made account: the address is not taken, cannot sign in, and signs up again.
 */
const EMAIL = 'half@acme.test';
const PASSWORD = 'a passphrase of some length';
const CONFIG = { passwords: FAST_HASHING, signup: { confirmEmail: false } };

function signUpKilledBetweenTheAppends(dir: string) {
  const source = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    import { Journal } from ${source('../../src/stores/file/journal.ts')};
    import { RecordJournal } from ${source('../../src/stores/file/record-journal.ts')};
    import { createAppOnFiles } from ${source('../support/app-on-files.ts')};
    import pino from 'pino';
    const [dir] = process.argv.slice(1);
    const append = Journal.prototype.append;
    // db.json's journal is written second: its first append is the point between the two.
    Journal.prototype.append = function (lines) {
      if (this instanceof RecordJournal) process.kill(process.pid, 'SIGKILL');
      return append.call(this, lines);
    };
    const t = await createAppOnFiles({
      format: 'restauth', dir, config: ${JSON.stringify(CONFIG)}, log: pino({ level: 'silent' }),
    });
    const answer = await t.app.inject({
      method: 'POST', url: '/auth/v1/signup', payload: ${JSON.stringify({ email: EMAIL, password: PASSWORD })},
    });
    console.error('the sign-up ended without the kill: ' + answer.statusCode + ' ' + answer.body);
  `;
  return spawnTsScript(script, [dir], 'inherit');
}

describe('a sign-up killed between its two journal appends (file store)', () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'leaves no half-made account: the address signs up again after the restart',
    { timeout: 60_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-sign-up-kill-'));
      const child = signUpKilledBetweenTheAppends(dir);
      const exit = await within(exitOf(child), 45_000, () => 'the child was not killed');
      assert.equal(exit.signal, 'SIGKILL');
      // The kill fell where meant: the account is in credentials.json's journal, no user in db.json's.
      const credentialsJournal = await readFile(join(dir, '.credentials.json.journal'), 'utf8');
      assert.match(credentialsJournal, /half@acme\.test/u);
      const dataJournal = await readFile(join(dir, '.db.json.journal'), 'utf8').catch(() => '');
      assert.doesNotMatch(dataJournal, /half@acme\.test/u);

      const t = await createTestApp({ format: 'restauth', dir, config: CONFIG });
      try {
        const signIn = await t.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          payload: { email: EMAIL, password: PASSWORD },
        });
        assert.equal(signIn.statusCode, 400, signIn.body);
        const again = await t.app.inject({
          method: 'POST',
          url: '/auth/v1/signup',
          payload: { email: EMAIL, password: PASSWORD },
        });
        assert.equal(again.statusCode, 200, again.body);
        const signedIn = await t.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          payload: { email: EMAIL, password: PASSWORD },
        });
        assert.equal(signedIn.statusCode, 200, signedIn.body);
      } finally {
        await t.close();
      }
    },
  );
});
