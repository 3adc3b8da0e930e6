import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileStore } from '../../../src/stores/file/index.js';
import { runStoreContract } from './store-contract.js';

runStoreContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-contract-'));
  const { store } = await openFileStore({
    type: 'file',
    dataFile: join(dir, 'db.json'),
    credentialsFile: join(dir, 'credentials.json'),
    usersProp: 'users',
    userIdProp: 'id',
  });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
