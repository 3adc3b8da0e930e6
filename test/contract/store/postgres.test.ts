import { runStoreContract } from './store-contract.js';
import { openPostgresStore } from '../../../src/stores/postgres/index.js';
import {
  dropDatabase,
  realServerOnly,
  testPostgres,
  testRoles,
  testStoreConfig,
} from '../../support/postgres.js';

runStoreContract(
  'postgres',
  async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    const store = await openPostgresStore({ ...testStoreConfig(url), poolMax: 20 }, testRoles);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropDatabase(server.url, url);
      },
    };
  },
  // The 50-way races pass on PGlite only as a serial schedule, which tests nothing.
  { concurrencySkipReason: realServerOnly() ?? undefined },
);
