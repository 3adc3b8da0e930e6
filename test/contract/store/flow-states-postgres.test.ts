import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import {
  dropDatabase,
  realServerOnly,
  testPostgres,
  testRoles,
  testStoreConfig,
} from '../../support/postgres.js';
import { runFlowStateContract } from './flow-states-contract.js';

const quiet = { info: () => {}, warn: () => {} };

runFlowStateContract(
  'postgres',
  async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    const open = () => openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet);
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
        await dropDatabase(server.url, url);
      },
    };
  },
  // The race passes on PGlite only as a serial schedule, which tests nothing.
  { concurrencySkipReason: realServerOnly() ?? undefined },
);
