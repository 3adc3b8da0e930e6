import pg from 'pg';
import { onFreePort } from './free-port.js';
import { keepExtendedQueriesWhole } from './pglite-queue.js';
import { pgliteTemplate } from './pglite-template.js';
import { findBinaries, startOwnCluster } from './postgres-cluster.js';

/**
 * A PostgreSQL server for the tests (DESIGN, Tests): DATABASE_URL when set,
 * otherwise a throwaway cluster from the machine's PostgreSQL binaries
 * (shared by the whole test process, removed at exit), otherwise PGlite
 * in-process: PostgreSQL compiled to WebAssembly, reached over the wire
 * protocol (pglite-socket), so the production code talks to it unchanged.
 * `RESTAUTH_TEST_POSTGRES=pglite` forces PGlite where binaries exist (CI
 * runs the store tests that way too, to prove the fallback).
 *
 * PGlite is one backend session behind every connection: pglite-socket
 * queues the connections' messages and, once one opens a transaction (or an
 * extended-protocol batch: test/support/pglite-queue.ts), serves only that
 * connection until it ends, so transactions run one after another,
 * never overlapping. Row locks therefore never conflict (FOR UPDATE never
 * waits, SKIP LOCKED never skips), session state is shared (a session-level
 * pg_advisory_lock excludes no other connection; SET is seen by all), and
 * cancel requests are ignored. A race there is a serial schedule and proves
 * nothing, so a test that needs true concurrency skips on PGlite with
 * `realServerOnly()`'s reason.
 */
export interface TestPostgres {
  /** URL of the server's maintenance database. */
  url: string;
  /** A new, empty database for one test file (or test). */
  createDatabase(): Promise<string>;
}

let started: Promise<TestPostgres> | null = null;

type Kind = 'url' | 'cluster' | 'pglite';

function kind(): Kind {
  if (process.env.RESTAUTH_TEST_POSTGRES === 'pglite') return 'pglite';
  if (process.env.DATABASE_URL) return 'url';
  return findBinaries() ? 'cluster' : 'pglite';
}

/** Why a test needing concurrent transactions cannot run here (PGlite), or null on a real server. */
export function realServerOnly(): string | null {
  return kind() === 'pglite'
    ? 'needs concurrent transactions: PGlite runs one at a time in one shared session (test/support/postgres.ts)'
    : null;
}

/**
 * A store configuration for a test database. On PGlite, named prepared
 * statements are off, as behind PgBouncer's transaction mode: every
 * connection shares its one session, so a statement name one pooled
 * connection prepared already exists when another prepares it.
 */
export function testStoreConfig(url: string): {
  type: 'postgres';
  url: string;
  schema: string;
  table: string;
  poolMin: number;
  poolMax: number;
  preparedStatements: boolean;
  startupTimeout: number;
  connectTimeout: number;
  queryTimeout: number;
  keepAlive: number;
} {
  return {
    type: 'postgres',
    url,
    schema: 'auth',
    table: 'users',
    poolMin: 0,
    poolMax: 10,
    preparedStatements: kind() !== 'pglite',
    // A test database is up before the test starts: a failure to reach it is reported at once.
    startupTimeout: 0,
    connectTimeout: 10,
    queryTimeout: 15,
    keepAlive: 30,
  };
}

/**
 * The store a suite runs on, as config to spread: the file store (nothing to
 * set), or a fresh PostgreSQL database, dropped by `drop`.
 */
export async function suiteStore(
  kind: 'file' | 'postgres',
): Promise<{ config: { store?: ReturnType<typeof testStoreConfig> }; drop(): Promise<void> }> {
  if (kind === 'file') return { config: {}, drop: async () => {} };
  const server = await testPostgres();
  const url = await server.createDatabase();
  return { config: { store: testStoreConfig(url) }, drop: () => dropDatabase(server.url, url) };
}

/** PGlite instances by the URL that reaches them: each test database is one. */
const pglites = new Map<string, { stop(): Promise<void>; queuedMessages(): number; dump(): Promise<Blob> }>();

/** How many protocol messages wait in a PGlite test server's queue, or null on a real server. */
export function pgliteQueuedMessages(databaseUrl: string): number | null {
  return pglites.get(databaseUrl)?.queuedMessages() ?? null;
}

/** A new PGlite's data directory, made once per machine (pglite-template.ts). */
let pgliteData: Promise<Blob> | null = null;

/** A PGlite test database's data directory: another can start from it (pgliteDatabaseFrom). */
export function dumpPgliteDatabase(databaseUrl: string): Promise<Blob> {
  const pglite = pglites.get(databaseUrl);
  if (!pglite) throw new Error(`not a PGlite test database: ${databaseUrl}`);
  return pglite.dump();
}

/** A new PGlite test database started from `data`, a dumpPgliteDatabase's. */
export function pgliteDatabaseFrom(data: Blob): Promise<string> {
  return startPglite(data);
}

async function startPglite(data?: Blob): Promise<string> {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-socket'),
  ]);
  pgliteData ??= pgliteTemplate(async () => {
    const fresh = await PGlite.create();
    try {
      return await fresh.dumpDataDir('none');
    } finally {
      await fresh.close();
    }
  });
  const db = await PGlite.create({ loadDataDir: data ?? (await pgliteData) });
  // The port is bound only by start: another process may take it first, and then another is chosen.
  const { server, port } = await onFreePort(async (port) => {
    const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 100 });
    keepExtendedQueriesWhole(server);
    await server.start();
    return { server, port };
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  pglites.set(url, {
    stop: async () => {
      await server.stop();
      await db.close();
    },
    queuedMessages: () => server.getStats().queuedQueries,
    dump: () => db.dumpDataDir('none'),
  });
  return url;
}

/**
 * The cluster every test of this process shares: never stopped while they run, so commits need not
 * wait for the WAL, and enough connections for the suites' pools.
 */
async function startCluster(): Promise<string> {
  const cluster = await startOwnCluster({ maxConnections: 200, synchronousCommit: false });
  return cluster.url;
}

export function testPostgres(): Promise<TestPostgres> {
  if (kind() === 'pglite') {
    // One PGlite per database: it has a single database of its own.
    return Promise.resolve({ url: 'pglite', createDatabase: () => startPglite() });
  }
  started ??= (async () => {
    const url = process.env.DATABASE_URL ?? (await startCluster());
    let counter = 0;
    return {
      url,
      createDatabase: async () => {
        const name = `restauth_test_${process.pid}_${Date.now()}_${counter++}`;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        try {
          await admin.query(`CREATE DATABASE ${name}`);
        } finally {
          await admin.end();
        }
        const target = new URL(url);
        target.pathname = `/${name}`;
        return target.toString();
      },
    };
  })();
  return started;
}

/** Drops a database made by createDatabase (and its connections). */
export async function dropDatabase(serverUrl: string, databaseUrl: string): Promise<void> {
  const pglite = pglites.get(databaseUrl);
  if (pglite) {
    pglites.delete(databaseUrl);
    return pglite.stop();
  }
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    // pool.end() resolves once its clients are told to end, not once their backends have gone, and a
    // drop FORCEd at once terminated a backend still closing: its client raised "terminating
    // connection due to administrator command" as an uncaught error after the test. A plain DROP
    // signals no backend: PostgreSQL itself waits (up to 5 s) for the database's backends to leave,
    // and fails with 55006 only if one stays; FORCE then ends what a test left open.
    // useTestDatabase (test-database.ts) goes further: it drops only once every connection of its
    // pool has closed.
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    } catch (error) {
      if ((error as { code?: string }).code !== '55006') throw error;
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

/** PostgREST role names as postgrest-auth's example configures them, without role per user. */
export const testRoles = {
  anonymous: 'web_anon',
  authenticated: 'normal_user',
  service: 'service_role',
  perUser: false,
  authenticator: null,
};
