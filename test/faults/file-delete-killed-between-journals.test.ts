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
 * A user's removal on the file store is, like a sign-up, two appends: one to each file's journal. A
 * child restauth is SIGKILLed exactly between them (the first fdatasynced, the second not begun),
 * whichever journal the store writes first: the kill falls there every run, not by timing. The
 * removal was journaled credentials.json first, as a sign-up is, which is the wrong order for a
 * removal: db.json kept the record while its account (address), password and identities were gone,
 * and the restarted server listed a user without an address that nothing could sign in to or
 * remove by its address. Journaled db.json first, the kill leaves credentials without a user
 * (reported at start, dropped by a sign-up of that id), as a sign-up killed there does.
 */
const EMAIL = 'gone@acme.test';
const PASSWORD = 'a passphrase of some length';
const CONFIG = { passwords: FAST_HASHING, signup: { confirmEmail: false } };

function deletionKilledBetweenTheAppends(dir: string) {
  const source = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    import { Journal } from ${source('../../src/stores/file/journal.ts')};
    import { LOCAL_CALL } from ${source('../../src/core/audit.ts')};
    import { createAppOnFiles } from ${source('../support/app-on-files.ts')};
    import pino from 'pino';
    const [dir] = process.argv.slice(1);
    const t = await createAppOnFiles({
      format: 'restauth', dir, config: ${JSON.stringify(CONFIG)}, log: pino({ level: 'silent' }),
    });
    const signUp = await t.app.inject({
      method: 'POST', url: '/auth/v1/signup', payload: ${JSON.stringify({ email: EMAIL, password: PASSWORD })},
    });
    if (signUp.statusCode !== 200) { console.error('sign-up: ' + signUp.body); process.exit(3); }
    const id = JSON.parse(signUp.body).user.id;
    // From here the removal's commit is the only writer: its first append goes through, and the
    // first append to the other journal (the second of the two) is where the process dies.
    const append = Journal.prototype.append;
    let first = null;
    Journal.prototype.append = function (lines) {
      first ??= this;
      if (this !== first) process.kill(process.pid, 'SIGKILL');
      return append.call(this, lines);
    };
    await t.services.admin.deleteUser(LOCAL_CALL, id);
    console.error('the deletion ended without the kill');
  `;
  return spawnTsScript(script, [dir], 'inherit');
}

describe('a user removal killed between its two journal appends (file store)', () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'leaves no user without its address: the address signs up again after the restart',
    { timeout: 60_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-delete-kill-'));
      const child = deletionKilledBetweenTheAppends(dir);
      const exit = await within(exitOf(child), 45_000, () => 'the child was not killed');
      assert.equal(exit.signal, 'SIGKILL');
      // The kill fell between the appends: exactly one journal holds the removal's lines.
      const journal = (name: string) => readFile(join(dir!, name), 'utf8').catch(() => '');
      const recordGone = /"op":"delete"/u.test(await journal('.db.json.journal'));
      const accountGone = /"op":"delete","map":"accounts"/u.test(await journal('.credentials.json.journal'));
      assert.notEqual(recordGone, accountGone, 'one of the two appends, not both, was made');

      const warnings: string[] = [];
      const logger = { info: () => {}, warn: (message: string) => void warnings.push(message) };
      const t = await createTestApp({ format: 'restauth', dir, config: CONFIG, logger });
      try {
        // Only one account was ever made, with an address: none comes back without it.
        const listed = await t.services.store.listUsers({ page: 1, perPage: 50 });
        const shown = JSON.stringify(listed.users.map((u) => [u.id, u.email]));
        assert.deepEqual(
          listed.users.filter((u) => u.email === null).map((u) => u.id),
          [],
          `a half-removed user is served as an account without address: ${shown}`,
        );
        // The removal was journaled first in db.json: the user is gone, its credentials are reported.
        assert.equal(listed.total, 0, shown);
        assert.ok(
          warnings.some((w) => /holds credentials of 1 user\(s\) missing from/u.test(w)),
          warnings.join('\n'),
        );
        const post = (url: string) =>
          t.app.inject({ method: 'POST', url, payload: { email: EMAIL, password: PASSWORD } });
        const signIn = await post('/auth/v1/token?grant_type=password');
        assert.equal(signIn.statusCode, 400, signIn.body);
        const again = await post('/auth/v1/signup');
        assert.equal(again.statusCode, 200, again.body);
        const signedIn = await post('/auth/v1/token?grant_type=password');
        assert.equal(signedIn.statusCode, 200, signedIn.body);
      } finally {
        await t.close();
      }
    },
  );
});
