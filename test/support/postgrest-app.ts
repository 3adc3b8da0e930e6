import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import type pg from 'pg';
import { createTestApp, type TestApp } from './app.js';
import { FAST_HASHING } from './gotrue.js';
import { authenticatorRoleSql, poolAs, runAsOwner, type PostgrestOptions } from './postgrest.js';
import { dropDatabase, testPostgres, testStoreConfig } from './postgres.js';

/** restauth on a database of its own with PostgREST's side of it: what a suite asks of PostgREST by. */
export interface PostgrestApp {
  /** The database's URL (its owner's). */
  readonly url: string;
  readonly t: TestApp;
  /** A pool logged in as PostgREST's authenticator role, for postgrestRequest. */
  readonly pool: pg.Pool;
  /** How PostgREST checks restauth's tokens: the shared secret, the anonymous role, the pre-request. */
  readonly rest: PostgrestOptions;
}

export interface PostgrestAppOptions {
  /** The JWT secret restauth signs with and PostgREST checks by. */
  secret: string;
  /** PostgREST's anonymous role and the role of restauth's tokens (restauth's roles setting). */
  anonRole: string;
  authenticatedRole: string;
  /** More restauth settings, merged into roles and the rest. */
  config?: Record<string, unknown>;
  /** SQL the database's owner runs once restauth migrated it: the tables, grants and policies. */
  schema: string;
}

/**
 * Makes, in a `before` hook, a database, restauth on it (fast hashing, the tokens' roles, the secret
 * from RESTAUTH_JWT_SECRET), then the suite's schema and PostgREST's authenticator login role (its name
 * random: roles are cluster-wide) granted both roles; closes and drops all in an `after` hook. The
 * answer's properties are there once the `before` hook ran.
 */
export function usePostgrestApp(options: PostgrestAppOptions): PostgrestApp {
  const authenticator = `authenticator_${randomBytes(3).toString('hex')}`;
  const rest: PostgrestOptions = {
    secret: options.secret,
    anonRole: options.anonRole,
    preRequest: 'auth.check_token_count',
  };
  let made: { url: string; t?: TestApp; pool?: pg.Pool } | undefined;
  let serverUrl = '';
  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    made = { url: await server.createDatabase() };
    made.t = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(made.url),
        roles: { anonymous: options.anonRole, authenticated: options.authenticatedRole },
        passwords: FAST_HASHING,
        ...options.config,
      },
      env: { RESTAUTH_JWT_SECRET: options.secret },
    });
    await runAsOwner(
      made.url,
      `${options.schema}\n${authenticatorRoleSql(authenticator, [options.anonRole, options.authenticatedRole])}`,
    );
    made.pool = poolAs(made.url, authenticator);
  });
  after(async () => {
    if (!made) return;
    await made.pool?.end();
    await made.t?.close();
    await dropDatabase(serverUrl, made.url);
  });
  const get = <K extends 'url' | 't' | 'pool'>(key: K): NonNullable<NonNullable<typeof made>[K]> => {
    const value = made?.[key];
    if (value === undefined)
      throw new Error(`usePostgrestApp: ${key} is read before its before() hook made it`);
    return value as NonNullable<NonNullable<typeof made>[K]>;
  };
  return {
    get url() {
      return get('url');
    },
    get t() {
      return get('t');
    },
    get pool() {
      return get('pool');
    },
    rest,
  };
}
