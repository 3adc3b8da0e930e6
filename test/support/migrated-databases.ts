import pg from 'pg';
import {
  dropDatabase,
  dumpPgliteDatabase,
  pgliteDatabaseFrom,
  testPostgres,
  type TestPostgres,
} from './postgres.js';

/**
 * Databases for a suite that opens a store on a new one per test (the store contracts): `migrate` (which
 * opens the store and closes it) runs once, on a template database, and each `create` copies that,
 * where opening a store on an empty database ran every migration again, about a second per test (more
 * on PGlite, where PostgreSQL runs in WebAssembly). A test starts from what the store's own first open
 * made, as before.
 *
 * On the cluster the tests start (removed at exit with its template), CREATE DATABASE ... TEMPLATE; on
 * PGlite (one instance per database), an instance started from the template's data directory. On
 * DATABASE_URL's server a template would be left behind: there each `create` is an empty database.
 */
export interface MigratedDatabases {
  /** A new database, its schema made. */
  create(): Promise<string>;
  /** Drops a database `create` made. */
  drop(url: string): Promise<void>;
}

type Template = { copy(): Promise<string> } | null;

export function migratedDatabases(migrate: (url: string) => Promise<void>): MigratedDatabases {
  let template: Promise<Template> | null = null;
  return {
    drop: async (url) => dropDatabase((await testPostgres()).url, url),
    create: async () => {
      const server = await testPostgres();
      template ??= makeTemplate(server, migrate);
      return (await template)?.copy() ?? server.createDatabase();
    },
  };
}

async function makeTemplate(
  server: TestPostgres,
  migrate: (url: string) => Promise<void>,
): Promise<Template> {
  if (process.env.DATABASE_URL) return null;
  const url = await server.createDatabase();
  await migrate(url);
  if (server.url === 'pglite') {
    const data = await dumpPgliteDatabase(url);
    await dropDatabase(server.url, url);
    return { copy: () => pgliteDatabaseFrom(data) };
  }
  const name = new URL(url).pathname.slice(1);
  // A closed pool's backends leave a moment after its end() resolves, and a database with a session
  // on it cannot be copied. PostgreSQL signals nothing when they go: polled, each poll after the last.
  await onServer(server.url, async (admin) => {
    for (;;) {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
        [name],
      );
      if (rows[0]!.n === 0) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  let copies = 0;
  return {
    copy: async () => {
      const copy = `restauth_copy_${process.pid}_${copies++}`;
      await onServer(server.url, (admin) => admin.query(`CREATE DATABASE ${copy} TEMPLATE ${name}`));
      const copyUrl = new URL(server.url);
      copyUrl.pathname = `/${copy}`;
      return copyUrl.toString();
    },
  };
}

async function onServer<R>(serverUrl: string, work: (admin: pg.Client) => Promise<R>): Promise<R> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
