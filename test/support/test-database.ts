import { after, before } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import type { SchemaNames } from '../../src/stores/postgres/migrations.js';
import { PostgresStore, schemaNames } from '../../src/stores/postgres/index.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from './postgres.js';

/** What a test file works on: its own database, migrated, a pool on it and the store on that pool. */
export interface TestDatabase {
  /** The database's URL. */
  readonly url: string;
  readonly config: ReturnType<typeof testStoreConfig>;
  readonly names: SchemaNames;
  /** A pool of `max` connections on the database, ended before it is dropped. */
  readonly pool: pg.Pool;
  /** The store on `pool`, as the server makes it (prepared statements as testStoreConfig says). */
  readonly store: PostgresStore;
}

/**
 * Makes a database for the test file in a `before` hook and drops it in an `after` hook, with a
 * pool on it migrated through `migrateThrough` (every migration by default; 0: none). The answer's
 * properties are there once the `before` hook ran: read them inside hooks and tests.
 *
 * The pool is ended, and every one of its connections closed, before the database is dropped:
 * pg-pool's end() resolves once its connections are told to end, and a backend still closing when
 * DROP ... WITH (FORCE) terminated it sent its client "terminating connection due to administrator
 * command", raised as an uncaught error. Each connection's own 'end' event says it has closed.
 */
export function useTestDatabase(
  options: {
    max?: number;
    migrateThrough?: number;
    /** Run first in the `after` hook: closes what has connections of its own (an app on the database). */
    beforeDrop?: () => Promise<void> | void;
  } = {},
): TestDatabase {
  let made: TestDatabase | undefined;
  let serverUrl = '';
  const ended = new Set<Promise<void>>();
  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    const url = await server.createDatabase();
    const config = testStoreConfig(url);
    const names = schemaNames(config, testRoles);
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 8 });
    pool.on('connect', (client) => {
      ended.add(new Promise((resolve) => client.once('end', resolve)));
    });
    made = {
      url,
      config,
      names,
      pool,
      store: new PostgresStore(pool, names, { preparedStatements: config.preparedStatements }),
    };
    if (options.migrateThrough !== 0) {
      await migrate(
        pool,
        names,
        options.migrateThrough === undefined ? {} : { through: options.migrateThrough },
      );
    }
  });
  after(async () => {
    await options.beforeDrop?.();
    if (!made) return;
    await made.pool.end();
    await Promise.all(ended);
    await dropDatabase(serverUrl, made.url);
  });
  const get = <K extends keyof TestDatabase>(key: K): TestDatabase[K] => {
    if (!made) throw new Error(`useTestDatabase: ${key} is read before its before() hook made the database`);
    return made[key];
  };
  return {
    get url() {
      return get('url');
    },
    get config() {
      return get('config');
    },
    get names() {
      return get('names');
    },
    get pool() {
      return get('pool');
    },
    get store() {
      return get('store');
    },
  };
}
