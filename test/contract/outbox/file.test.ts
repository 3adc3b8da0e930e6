import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileBackend } from '../../../src/stores/file/backend.js';
import { runOutboxContract } from './outbox-contract.js';

const quiet = { info: () => {}, warn: () => {} };

runOutboxContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-outbox-'));
  return {
    open: () =>
      openFileBackend(
        {
          stateDir: join(dir, '.restauth'),
          store: {
            type: 'file',
            dataFile: join(dir, 'db.json'),
            credentialsFile: join(dir, 'credentials.json'),
            usersProp: 'users',
            userIdProp: 'id',
          },
        },
        quiet,
      ),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
