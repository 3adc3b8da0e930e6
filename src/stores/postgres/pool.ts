import pg from 'pg';
import type { PostgresStoreConfig } from '../../config/schema.js';
import {
  asStoreError,
  describeDatabase,
  isConnectionFault,
  isIdleSessionTimeout,
  isPrivilegeRefused,
  isResourceShortage,
  isSchemaChanged,
  isSerializationFailure,
  isStalePlan,
  isStatementCancelled,
  isWriteRefused,
  OutageMonitor,
  type OutageLogger,
} from './faults.js';
import { pinnedSearchPath } from './session-search-path.js';

export type PoolConfig = Pick<
  PostgresStoreConfig,
  'url' | 'poolMin' | 'poolMax' | 'connectTimeout' | 'queryTimeout' | 'keepAlive'
>;

/**
 * Seconds the client waits for an answer after the server's statement_timeout:
 * a live server always cancels first (57014, the connection stays usable);
 * only a database that does not answer at all meets the client's timeout.
 */
const CLIENT_TIMEOUT_GRACE_SECONDS = 2;

/**
 * The bounds of a pool, as node-postgres' options:
 *
 * - connectionTimeoutMillis bounds a new connection (TCP and the start-up
 *   exchange: a stopped server accepts TCP in the kernel and never answers)
 *   and, in pg-pool, a wait for a free connection of a full pool;
 * - statement_timeout is set for restauth's sessions, so a statement stuck on
 *   a lock or a slow plan is cancelled by the server;
 * - query_timeout is the client's own bound, for a server that answers
 *   nothing; it leaves the connection mid-statement, so it is destroyed;
 * - TCP keep-alive lets the kernel find an idle connection whose peer
 *   vanished (a partition) instead of keeping it until the next query hangs.
 */
function poolBounds(
  config: Pick<PostgresStoreConfig, 'connectTimeout' | 'queryTimeout' | 'keepAlive'>,
): pg.PoolConfig {
  return {
    connectionTimeoutMillis: config.connectTimeout * 1000,
    ...(config.queryTimeout > 0 && {
      statement_timeout: config.queryTimeout * 1000,
      query_timeout: (config.queryTimeout + CLIENT_TIMEOUT_GRACE_SECONDS) * 1000,
    }),
    keepAlive: config.keepAlive > 0,
    ...(config.keepAlive > 0 && { keepAliveInitialDelayMillis: config.keepAlive * 1000 }),
  };
}

/**
 * The connection pool of a store, made safe to lose its database:
 *
 * - every connection has an `error` listener for its whole life. pg-pool
 *   listens only while a connection is idle and removes its listener while
 *   the connection is checked out; a server restart then emits an 'error'
 *   nobody handles, and Node ends the process;
 * - a fault (an idle connection dropped, a query on a broken one, a refused
 *   connect) is reported to the outage monitor, which logs each outage once;
 * - `query` and `connect` reject with the registry's 503 (`store_unavailable`)
 *   for a connection fault or a cancelled statement, so every caller answers
 *   honestly without translating driver errors itself. Other errors pass
 *   unchanged;
 * - nothing waits for ever on a database that hangs instead of refusing (a
 *   network partition, a stopped server): see poolBounds.
 */
export function createPool(config: PoolConfig, logger: OutageLogger): pg.Pool {
  const monitor = new OutageMonitor(describeDatabase(config.url), logger);
  const session = pinnedSearchPath(config.url);
  const pool = new pg.Pool({
    connectionString: session.url,
    options: session.options,
    min: config.poolMin,
    max: config.poolMax,
    ...poolBounds(config),
  });
  monitors.set(pool, monitor);
  pool.on('error', (error) => monitor.connectionError(error));
  pool.on('connect', (client) => {
    client.on('error', (error) => monitor.connectionError(error));
    monitor.connected();
  });
  // A connection released with an error (see withClient) is destroyed by pg-pool; its cause is reported.
  // pg-pool's own query releases so on any error: a serialization failure, run again (rerun below), is
  // reported only if the last run fails too (fail).
  pool.on('release', (error: Error | undefined) => {
    if (error && !isSerializationFailure(error)) monitor.fault(error);
  });
  const fail = (error: unknown): never => {
    monitor.fault(error);
    throw asStoreError(error);
  };
  // Only the promise forms are translated: pg-pool's own query calls connect with a callback.
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const result = query(...args);
    if (!(result instanceof Promise)) return result;
    const reruns = rerunsFor(config.poolMax);
    const rerun = (error: unknown): Promise<unknown> => {
      if (!mayRunAgain(error, reruns)) throw error;
      // An idle connection ended by idle_session_timeout is news to log (once); the others are not.
      if (isIdleSessionTimeout(error)) monitor.fault(error);
      return (query(...args) as Promise<unknown>).catch(rerun);
    };
    return result.catch(rerun).catch(fail);
  }) as typeof pool.query;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.connect = ((...args: unknown[]) => {
    const result = connect(...args);
    return result instanceof Promise ? result.catch(fail) : result;
  }) as typeof pool.connect;
  return pool;
}

/**
 * `first`'s outcome, or, while the connection it was handed had been ended by the server as idle
 * (57P05: nothing ran), `again()`'s, up to the pool's size (see Reruns' idleConnections): for a look
 * taken on a connection of its own (readiness.ts), where createPool's query and inTransaction rerun
 * statements and transactions themselves.
 */
export async function afterEndedSessions<T>(
  pool: pg.Pool,
  first: Promise<T>,
  again: () => Promise<T>,
): Promise<T> {
  const reruns = rerunsFor(pool.options.max ?? 10);
  let attempt = first;
  for (;;) {
    try {
      return await attempt;
    } catch (error) {
      if (!isIdleSessionTimeout(error) || !mayRunAgain(error, reruns)) throw error;
      attempt = again();
    }
  }
}

/** The outage monitor of each pool createPool made, for readiness (schemaFaultOf). */
const monitors = new WeakMap<pg.Pool, OutageMonitor>();

/**
 * The last missing or changed part of the schema a statement of `pool` met (the driver's message), and
 * when, or null: /ready looks at the catalogue at once then, and names it (readiness.ts).
 */
export function schemaFaultOf(pool: pg.Pool): { message: string; at: number } | null {
  return monitors.get(pool)?.schemaFault ?? null;
}

/**
 * Whether requests are waiting on `pool` now, every connection in use, and one such wait timed out
 * within the last connectTimeout (isPoolExhausted): /ready says so at once, where its own wait for a
 * connection took connectTimeout and then called the database unreachable.
 */
export function poolExhaustedNow(pool: pg.Pool): boolean {
  const at = monitors.get(pool)?.poolExhaustedAt ?? null;
  const window = pool.options.connectionTimeoutMillis ?? 0;
  return (
    at !== null &&
    Math.abs(Date.now() - at) <= window &&
    pool.waitingCount > 0 &&
    pool.totalCount >= (pool.options.max ?? 10)
  );
}

/**
 * Runs `work` on one connection of the pool and releases it. A connection
 * that broke meanwhile (its 'error' event, or a connection fault from a
 * query) is released with the error, so pg-pool destroys it instead of
 * handing it to the next caller; a connection fault rejects as the 503.
 */
export async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } catch (error) {
    if (isConnectionFault(error)) broken ??= error as Error;
    else if (isWriteRefused(error) || isResourceShortage(error)) {
      // Kept, it would refuse every write it is given after a failover, though the URL names a primary
      // again; a backend that ran out of memory is best replaced too. Released with the error, it is
      // also reported (the pool's 'release' event), at most once a minute.
      broken ??= error as Error;
    } else if (isPrivilegeRefused(error) || isSchemaChanged(error) || isStalePlan(error)) {
      // A privilege revoked: the connection is fine, but released with the error is how the refusal
      // reaches the outage monitor (at most once a minute); a new connection is cheap beside the 503.
      // A stale plan stays on its connection: it is replaced, and inTransaction runs the work again.
      broken ??= error as Error;
    } else if (isStatementCancelled(error)) {
      // The connection serves on; the cancel is told to the outage monitor (at most once a minute).
      monitors.get(pool)?.fault(error);
    }
    throw asStoreError(error);
  } finally {
    broken ??= unfinished.get(client);
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/**
 * Connections whose transaction could not be ended: a ROLLBACK that failed (timed out on a server
 * that stalled, or refused) leaves the connection in its transaction, or with the ROLLBACK still
 * outstanding, so withClient destroys it. Released to the pool, the next caller's first query
 * queued behind that ROLLBACK and timed out too: a request answered 503 for another's fault.
 */
const unfinished = new WeakMap<pg.ClientBase, Error>();

/**
 * Runs `work` inside BEGIN ... COMMIT on `client`. On failure the transaction
 * is rolled back, best effort, unless the connection broke (the server rolls
 * back as it goes); it is the error that ended the work that is thrown, never
 * the ROLLBACK's. A ROLLBACK that fails marks the connection for withClient
 * to destroy (see `unfinished`).
 */
export async function transaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN').catch((error: unknown) => {
    if (typeof error === 'object' && error !== null) beginFailures.add(error);
    throw error;
  });
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A broken connection is destroyed by withClient, and the server rolls back when it goes; a ROLLBACK
    // on it would only wait for a server that does not answer (a second query timeout).
    if (!isConnectionFault(error)) {
      await client.query('ROLLBACK').catch((rollbackFailed: unknown) => {
        unfinished.set(
          client,
          rollbackFailed instanceof Error
            ? rollbackFailed
            : new Error(`ROLLBACK failed: ${String(rollbackFailed)}`),
        );
      });
    }
    throw error;
  }
}

/** Errors a BEGIN met: nothing of its transaction ran, so inTransaction may run it again. */
const beginFailures = new WeakSet<object>();

/**
 * How often a statement or transaction that failed whole, with nothing of it kept, is run again:
 *
 * - idleConnections: a connection the server ended idle (57P05, idle_session_timeout) as it was
 *   handed out ran nothing; every idle connection may have been ended at once (they idled since the
 *   same burst) and each end is read only as it is used, so it is run again as often as the pool may
 *   hold such connections (its size), each failed try destroying one (see afterEndedSessions);
 * - staleConnections: a prepared plan gone stale (isStalePlan) fails on each pooled connection that
 *   holds it, which is replaced; likewise run again up to the pool's size;
 * - serialization: a serialization failure or deadlock (isSerializationFailure) is run again with a
 *   new snapshot, a few times, before the 503.
 */
interface Reruns {
  idleConnections: number;
  staleConnections: number;
  serialization: number;
}

/** The reruns of one statement or transaction on a pool of `poolSize` connections. */
function rerunsFor(poolSize: number): Reruns {
  return { idleConnections: poolSize, staleConnections: poolSize, serialization: 3 };
}

/** Whether `error` ended a run that may be run again, counting it against `left`. */
function mayRunAgain(error: unknown, left: Reruns): boolean {
  const kind: keyof Reruns | null = isIdleSessionTimeout(error)
    ? 'idleConnections'
    : isStalePlan(error)
      ? 'staleConnections'
      : isSerializationFailure(error)
        ? 'serialization'
        : null;
  if (kind === null || left[kind] === 0) return false;
  left[kind]--;
  return true;
}

/**
 * Runs `work` in a transaction on one guarded connection of the pool (see withClient and
 * transaction), and again when it failed whole for a cause that running it again mends (Reruns): a
 * BEGIN handed a connection the server was ending (57P05; only at BEGIN, when nothing ran), a
 * prepared plan gone stale, a serialization failure. Each rolled the transaction back.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const reruns = rerunsFor(pool.options.max ?? 10);
  for (;;) {
    try {
      return await withClient(pool, (client) => transaction(client, () => work(client)));
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      const atBegin = !isIdleSessionTimeout(cause) || beginFailures.has(cause as object);
      if (atBegin && mayRunAgain(cause, reruns)) continue;
      // Only the last of the serialization failures is news (the monitor's 'contention').
      if (isSerializationFailure(cause)) monitors.get(pool)?.fault(cause);
      throw error;
    }
  }
}
