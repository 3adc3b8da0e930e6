import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/stores/backend.js';
import { CredentialsJournal } from '../../src/stores/file/credentials-journal.js';
import { Journal } from '../../src/stores/file/journal.js';
import { RecordJournal } from '../../src/stores/file/record-journal.js';
import { openFileBackendIn } from '../support/file-backend.js';

/**
 * Which journal each of a user's writes reaches first: a crash between a write's two appends keeps
 * the first. A sign-up appends its credentials first and a removal its db.json record first, so
 * that either leaves only credentials without a user (reported at start), never a user without its
 * credentials. A sign-up and a removal queued together cannot share one commit's appends: they are
 * committed one after the other, each in its own order.
 */
describe("the file store's journal order of a sign-up and a removal", () => {
  let dir: string;
  let backend: Backend;
  const appends: string[] = [];
  const append = Journal.prototype.append;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-journal-order-'));
    backend = await openFileBackendIn(dir);
    Journal.prototype.append = function (this: Journal<unknown>, lines: string[]) {
      const which =
        this instanceof RecordJournal ? 'db.json' : this instanceof CredentialsJournal ? 'credentials' : '?';
      appends.push(`${which}: ${lines.map((line) => /"op":"(\w+)"/u.exec(line)?.[1]).join(' ')}`);
      return append.call(this, lines);
    };
  });
  after(async () => {
    Journal.prototype.append = append;
    await backend?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const newUser = (username: string) =>
    backend.store.createUser(
      { username, email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
      'a hash',
    );

  it('a removal journals db.json first, a sign-up credentials first, also when queued together', async () => {
    await newUser('gone');
    appends.length = 0;
    // Queued in the same turn of the event loop: without the split they would share one commit.
    const [removed] = await Promise.all([backend.store.deleteUser('gone'), newUser('new')]);
    assert.equal(removed, true);
    assert.equal(appends.length, 4, appends.join('\n'));
    assert.match(appends[0]!, /^db\.json: delete$/u, appends.join('\n'));
    assert.match(appends[1]!, /^credentials: .*delete/u, appends.join('\n'));
    assert.match(appends[2]!, /^credentials: .*put/u, appends.join('\n'));
    assert.match(appends[3]!, /^db\.json: put$/u, appends.join('\n'));
  });
});
