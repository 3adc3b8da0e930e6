import { runStoreContract } from '../../src/stores/contract.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { dropDatabase, testPostgres, testRoles } from '../support/postgres.js';

runStoreContract('postgres', async () => {
  const server = await testPostgres();
  const url = await server.createDatabase();
  const store = await openPostgresStore(
    { type: 'postgres', url, schema: 'auth', table: 'users', poolMin: 0, poolMax: 20 },
    testRoles,
  );
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropDatabase(server.url, url);
    },
  };
});
