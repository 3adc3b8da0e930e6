import pg from 'pg';
import type { PostgresStoreConfig } from '../../config/schema.js';
import {
  asStoreError,
  describeDatabase,
  isConnectionFault,
  OutageMonitor,
  type OutageLogger,
} from './faults.js';

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
 *   for a connection fault, so every caller answers honestly without
 *   translating driver errors itself. Other errors pass unchanged.
 */
export function createPool(
  config: Pick<PostgresStoreConfig, 'url' | 'poolMin' | 'poolMax'>,
  logger: OutageLogger,
): pg.Pool {
  const monitor = new OutageMonitor(describeDatabase(config.url), logger);
  const pool = new pg.Pool({ connectionString: config.url, min: config.poolMin, max: config.poolMax });
  pool.on('error', (error) => monitor.fault(error));
  pool.on('connect', (client) => {
    client.on('error', (error) => monitor.fault(error));
    monitor.connected();
  });
  // A connection released with an error (see withClient) is destroyed by pg-pool; its cause is reported.
  pool.on('release', (error: Error | undefined) => {
    if (error) monitor.fault(error);
  });
  const fail = (error: unknown): never => {
    monitor.fault(error);
    throw asStoreError(error);
  };
  // Only the promise forms are translated: pg-pool's own query calls connect with a callback.
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const result = query(...args);
    return result instanceof Promise ? result.catch(fail) : result;
  }) as typeof pool.query;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.connect = ((...args: unknown[]) => {
    const result = connect(...args);
    return result instanceof Promise ? result.catch(fail) : result;
  }) as typeof pool.connect;
  return pool;
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
    throw asStoreError(error);
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/**
 * Runs `work` inside BEGIN ... COMMIT on `client`. On failure the transaction
 * is rolled back, best effort: on a connection that died the ROLLBACK fails
 * too (the server has rolled back already), and it is the error that ended
 * the work that is thrown, never the ROLLBACK's.
 */
export async function transaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Runs `work` in a transaction on one guarded connection of the pool (see withClient and transaction). */
export function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, (client) => transaction(client, () => work(client)));
}
