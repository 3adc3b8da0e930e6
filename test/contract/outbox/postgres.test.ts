import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../../support/postgres.js';
import { runOutboxContract } from './outbox-contract.js';

const quiet = { info: () => {}, warn: () => {} };

runOutboxContract('postgres', async () => {
  const server = await testPostgres();
  const url = await server.createDatabase();
  return {
    open: () => openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet),
    cleanup: () => dropDatabase(server.url, url),
  };
});
