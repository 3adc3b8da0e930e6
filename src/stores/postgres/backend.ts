import type { Config, PostgresStoreConfig } from '../../config/schema.js';
import type { Backend, BackendLogger } from '../backend.js';
import { openPostgresStore, schemaNames } from './index.js';
import { PostgresMailQueue, outboxTable } from './outbox.js';
import { PostgresRateLimitCounter, rateLimitTable } from './rate-limits.js';
import { postgresReadiness } from './readiness.js';

/**
 * The PostgreSQL backend: every port on one pool, in tables every instance
 * shares (the outbox, the rate-limit windows), so instances behind one load
 * balancer send each mail once and count each client once.
 */
export async function openPostgresBackend(
  config: Pick<Config, 'roles'> & { store: PostgresStoreConfig },
  logger: BackendLogger,
): Promise<Backend> {
  // The outbox is made on the store's pool once it is open (before any write): the store's commits of
  // mails wake its worker.
  const store = await openPostgresStore(config.store, config.roles, {
    logger,
    mailsQueued: () => outbox.queued(),
  });
  const names = schemaNames(config.store, config.roles);
  const outbox = new PostgresMailQueue(store.pool, outboxTable(names));
  return {
    store,
    outbox,
    rateLimits: new PostgresRateLimitCounter(store.pool, rateLimitTable(names)),
    // Ended sessions are pruned through the Store port on core's retention (SessionManager.pruneEnded).
    upkeep: async () => {},
    readiness: () => postgresReadiness(store.pool, names),
    connections: () => ({
      total: store.pool.totalCount,
      idle: store.pool.idleCount,
      waiting: store.pool.waitingCount,
    }),
    close: () => store.close(),
  };
}
