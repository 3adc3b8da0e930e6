import type { Config, FileStoreConfig } from '../../config/schema.js';
import type { Backend, BackendLogger } from '../backend.js';
import { FileFlowStates } from './flow-states.js';
import { openFileStore } from './index.js';
import { mailQueuePath } from './outbox.js';
import { MemoryRateLimitCounter } from './rate-limits.js';
import { fileReadiness } from './readiness.js';

/**
 * The file backend: db.json and credentials.json under the instance lock, the
 * mail queue as a file in the state folder under the same lock, and rate
 * limits in memory (one process serves the files). Its ended sessions are
 * pruned through the Store port on core's retention, as PostgreSQL's are
 * (SessionManager.pruneEnded), so it has no upkeep of its own.
 */
export async function openFileBackend(
  config: Pick<Config, 'stateDir'> & {
    store: FileStoreConfig;
    data?: Pick<Config['data'], 'watch' | 'ownerProp'>;
  },
  logger: BackendLogger,
): Promise<Backend> {
  const files = config.store;
  const rateLimits = new MemoryRateLimitCounter();
  const { db, store, outbox, storage } = await openFileStore(files, logger, {
    // A password change ends the known clients the guess limit reads there (Store.changePassword).
    rateLimits,
    outboxFile: mailQueuePath(config.stateDir),
    // json-server's --watch: db.json edited while restauth runs is applied.
    adoptEdits: config.data?.watch ?? false,
    // The data API's owners: a user name its records name is taken (FileStore.createUser).
    ...(config.data ? { ownerProp: config.data.ownerProp } : {}),
  });
  if (!outbox) throw new Error('the file store opened without its mail queue');
  return {
    store,
    outbox,
    rateLimits,
    flowStates: new FileFlowStates(db),
    upkeep: async () => {},
    readiness: () => fileReadiness(files, db, storage),
    documents: db,
    journals: () => db.journalState,
    close: async () => {
      try {
        await store.close();
      } finally {
        await outbox.close();
      }
    },
  };
}
