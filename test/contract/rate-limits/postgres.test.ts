import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../../support/postgres.js';
import { runRateLimitContract } from './rate-limits-contract.js';

const quiet = { info: () => {}, warn: () => {} };

runRateLimitContract('postgres', async () => {
  const server = await testPostgres();
  const url = await server.createDatabase();
  const backend = await openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet);
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      await dropDatabase(server.url, url);
    },
  };
});
