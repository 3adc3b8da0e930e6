import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import { migratedDatabases } from '../../support/migrated-databases.js';
import { testRoles, testStoreConfig } from '../../support/postgres.js';
import { runOutboxContract } from './outbox-contract.js';

const quiet = { info: () => {}, warn: () => {} };
const open = (url: string) => openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet);
const databases = migratedDatabases(async (url) => (await open(url)).close());

runOutboxContract('postgres', async () => {
  const url = await databases.create();
  return { open: () => open(url), cleanup: () => databases.drop(url) };
});
