import { runStoreContract } from '../../src/stores/contract.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { dropDatabase, postgresAvailable, testPostgres } from '../support/postgres.js';

const roles = {
  anonymous: 'web_anon',
  authenticated: 'normal_user',
  service: 'service_role',
  perUser: false,
  authenticator: null,
};

runStoreContract(
  'postgres',
  async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    const store = await openPostgresStore(
      { type: 'postgres', url, schema: 'auth', table: 'users', poolMin: 0, poolMax: 20 },
      roles,
    );
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropDatabase(server.url, url);
      },
    };
  },
  { skipReason: postgresAvailable() },
);
