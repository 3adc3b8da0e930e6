import pg from 'pg';
import { dropDatabase, testPostgres } from './postgres.js';

/** A database of the test cluster that restauth reaches as a login role of its own. */
export interface RoleDatabase {
  /** The test cluster's URL, as its superuser. */
  serverUrl: string;
  /** The database's URL, as `role`. */
  url: string;
  role: string;
  /** A connection to the cluster as its superuser, to cause the fault on `role` (ALTER ROLE, REVOKE). */
  admin: pg.Client;
  /** Drops the database and the role, and ends `admin`: after whatever used them has closed. */
  drop(): Promise<void>;
}

/**
 * A fresh database reached as `role`, a new login role created a superuser (restauth's migrations create
 * roles), so that a fault caused on that role (NOLOGIN, a privilege revoked once it is no superuser) leaves
 * the test's superuser alone.
 */
export async function roleDatabase(role: string): Promise<RoleDatabase> {
  const server = await testPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER`);
  const asRole = new URL(await server.createDatabase());
  asRole.username = role;
  const url = asRole.toString();
  return {
    serverUrl: server.url,
    url,
    role,
    admin,
    drop: async () => {
      await dropDatabase(server.url, url);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    },
  };
}
