import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serversInOneFolder } from '../support/servers-in-one-folder.js';

/**
 * Two servers with files of their own (data and credentials) but one state folder (the default
 * `.restauth` of the folder they start in, or one --state-dir): both wrote .restauth/mail-queue.json
 * from their own memory, each dropping mails the other queued and sending the other's. The second
 * must be refused, naming the mail queue, and start once the first has stopped.
 */
describe('a second server on the same state folder', () => {
  const folder = serversInOneFolder('restauth-shared-state-');
  const start = (name: string) =>
    folder.start({ dataFile: `${name}.json`, credentialsFile: `${name}-credentials.json` });

  it('is refused while the first runs, naming mail-queue.json; it starts once the first stopped', async () => {
    await folder.make(['a.json', 'b.json']);
    const first = await start('a');

    await assert.rejects(start('b'), /mail-queue\.json is in use by another restauth/u);

    const signUp = await first.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'first@acme.test', password: 'a passphrase of some length' },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    await folder.stop(first);
    await start('b');
  });
});
