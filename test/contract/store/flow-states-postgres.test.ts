import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import { migratedDatabases } from '../../support/migrated-databases.js';
import { realServerOnly, testRoles, testStoreConfig } from '../../support/postgres.js';
import { runFlowStateContract } from './flow-states-contract.js';

const quiet = { info: () => {}, warn: () => {} };
const openOn = (url: string) => openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet);
const databases = migratedDatabases(async (url) => (await openOn(url)).close());

runFlowStateContract(
  'postgres',
  async () => {
    const url = await databases.create();
    const open = () => openOn(url);
    let backend = await open();
    return {
      flowStates: backend.flowStates,
      reopen: async () => {
        await backend.close();
        backend = await open();
        return backend.flowStates;
      },
      cleanup: async () => {
        await backend.close();
        await databases.drop(url);
      },
    };
  },
  // The race passes on PGlite only as a serial schedule, which tests nothing.
  { concurrencySkipReason: realServerOnly() ?? undefined },
);
