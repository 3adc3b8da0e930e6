import { after, before } from 'node:test';
import pg from 'pg';
import { dropDatabase, testPostgres } from './postgres.js';

export interface DatabaseSessions {
  /** A pool on the database, as restauth's store has (to migrate with). */
  readonly pool: pg.Pool;
  /** A session of its own on the database: a transaction holding a lock, a statement that could queue. */
  connected(): Promise<pg.Client>;
}

/**
 * A fresh database of the test cluster for the suite that calls it, made in a `before` hook (then
 * `prepare(url)`, when given) and dropped in an `after` hook, once every session `connected` opened and the
 * pool have ended.
 */
export function useDatabaseSessions(prepare?: (url: string) => Promise<unknown>): DatabaseSessions {
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;
  const clients: pg.Client[] = [];
  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    await prepare?.(url);
    pool = new pg.Pool({ connectionString: url });
  });
  after(async () => {
    for (const client of clients) await client.end().catch(() => {});
    await pool.end();
    await dropDatabase(serverUrl, url);
  });
  return {
    get pool() {
      return pool;
    },
    connected: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      clients.push(client);
      return client;
    },
  };
}
