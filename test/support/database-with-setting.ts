import pg from 'pg';
import { dropDatabase, testPostgres } from './postgres.js';

/** A database of the test cluster, and how to drop it. */
export interface DatabaseWithSetting {
  url: string;
  /** Drops it: after whatever used it has closed. */
  drop(): Promise<void>;
}

/**
 * A fresh database with `setting` (`name = value`) set on it as a DBA sets it (ALTER DATABASE ... SET),
 * taking effect in each session started after: a real server's fault (read-only, idle timeouts).
 */
export async function databaseWithSetting(setting: string): Promise<DatabaseWithSetting> {
  const server = await testPostgres();
  const url = await server.createDatabase();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET ${setting}`);
  } finally {
    await admin.end();
  }
  return { url, drop: () => dropDatabase(server.url, url) };
}
