import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import { migratedDatabases } from '../../support/migrated-databases.js';
import { testRoles, testStoreConfig } from '../../support/postgres.js';
import { runRateLimitContract } from './rate-limits-contract.js';

const quiet = { info: () => {}, warn: () => {} };
const open = (url: string) => openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet);
const databases = migratedDatabases(async (url) => (await open(url)).close());

runRateLimitContract('postgres', async () => {
  const url = await databases.create();
  const backend = await open(url);
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      await databases.drop(url);
    },
  };
});
