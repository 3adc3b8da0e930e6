import type { Config, PostgresStoreConfig } from '../../config/schema.js';
import type { Backend, BackendLogger } from '../backend.js';
import {
  flowStateTable,
  linkFlowSessionTable,
  pendingLinkTable,
  PostgresFlowStates,
  spentIdTokenTable,
  usersTable,
} from './flow-states.js';
import { openPostgresPool, PostgresStore, schemaNames } from './index.js';
import { PostgresMailQueue, outboxTable } from './outbox.js';
import { PostgresRateLimitCounter, rateLimitTable } from './rate-limits.js';
import { postgresReadiness } from './readiness.js';
import { warnOfOtherAudiences } from './audience-check.js';
import { schemaWatchOf } from './schema-watch.js';

/**
 * The PostgreSQL backend: every port on one pool, in tables every instance
 * shares (the outbox, the rate-limit windows), so instances behind one load
 * balancer send each mail once and count each client once.
 */
export async function openPostgresBackend(
  config: Pick<Config, 'roles'> & { store: PostgresStoreConfig; jwt?: Pick<Config['jwt'], 'audience'> },
  logger: BackendLogger,
): Promise<Backend> {
  const pool = await openPostgresPool(config.store, config.roles, { logger });
  const names = schemaNames(config.store, config.roles);
  // The schema as the migrations left it, for /ready to find a part dropped or retyped later. A
  // failure here only defers it to the first /ready (schema-watch.ts).
  await schemaWatchOf(pool, names)
    .capture()
    .catch(() => {});
  const outbox = new PostgresMailQueue(pool, outboxTable(names));
  // The store's commits of mails wake the outbox's worker.
  const store = new PostgresStore(pool, names, {
    preparedStatements: config.store.preparedStatements,
    ...(config.jwt?.audience ? { audience: config.jwt.audience } : {}),
    mailsQueued: () => outbox.queued(),
  });
  if (config.jwt?.audience) void warnOfOtherAudiences(pool, names, config.jwt.audience, logger);
  return {
    store,
    outbox,
    rateLimits: new PostgresRateLimitCounter(pool, rateLimitTable(names)),
    flowStates: new PostgresFlowStates(
      pool,
      flowStateTable(names),
      spentIdTokenTable(names),
      linkFlowSessionTable(names),
      pendingLinkTable(names),
      usersTable(names),
    ),
    // Ended sessions are pruned through the Store port on core's retention (SessionManager.pruneEnded).
    upkeep: async () => {},
    readiness: () => postgresReadiness(pool, names),
    connections: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
    close: () => store.close(),
  };
}
