import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileBackend } from '../../../src/stores/file/backend.js';
import { runRateLimitContract } from './rate-limits-contract.js';

const quiet = { info: () => {}, warn: () => {} };

runRateLimitContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-limits-'));
  const backend = await openFileBackend(
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
  );
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
