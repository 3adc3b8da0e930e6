import { runStoreContract } from './store-contract.js';
import { openPostgresStore } from '../../../src/stores/postgres/index.js';
import { migratedDatabases } from '../../support/migrated-databases.js';
import { realServerOnly, testRoles, testStoreConfig } from '../../support/postgres.js';

const open = (url: string) => openPostgresStore({ ...testStoreConfig(url), poolMax: 20 }, testRoles);
const databases = migratedDatabases(async (url) => (await open(url)).close());

runStoreContract(
  'postgres',
  async () => {
    const url = await databases.create();
    const store = await open(url);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await databases.drop(url);
      },
    };
  },
  // The 50-way races pass on PGlite only as a serial schedule, which tests nothing.
  { concurrencySkipReason: realServerOnly() ?? undefined },
);
