import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { Logger } from 'pino';
import pg from 'pg';
import { createTestApp, type TestApp } from './app.js';
import { FAST_HASHING } from './gotrue.js';
import { dropDatabase, testPostgres, testStoreConfig } from './postgres.js';

/**
 * What the PostgreSQL fault tests share: a GoTrue app on a database of its own, a superuser
 * connection to the server to cause the fault with, and a sign-up to see what a write answers.
 */
export interface FaultApp {
  readonly app: TestApp;
  /** A superuser connected to the server (its default database), not to the app's. */
  readonly admin: pg.Client;
  /** The server's URL (its default database), the app's database URL, and its name. */
  readonly serverUrl: string;
  readonly url: string;
  readonly database: string;
  signUp(email: string): Promise<LightMyRequestResponse>;
}

/**
 * Registers before() and after() hooks that start a FaultApp on a new database of the test server
 * and drop it afterwards. Its fields are read inside tests (they are set in before()).
 */
export function useFaultApp(
  options: {
    log?: Logger;
    /** Settings over faultAppConfig's, read in before() once the database's `url` is known. */
    config?: (url: string) => object;
  } = {},
): FaultApp {
  const { config: overrides, ...appOptions } = options;
  let app: TestApp | undefined;
  let admin: pg.Client | undefined;
  let serverUrl: string | undefined;
  let url: string | undefined;
  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    const config = { ...faultAppConfig(url), ...overrides?.(url) };
    app = await createTestApp({ config, format: 'restauth', ...appOptions });
    admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
  });
  after(async () => {
    await admin?.end();
    await app?.close();
    if (serverUrl && url) await dropDatabase(serverUrl, url);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useFaultApp: read in a test, after before()');
    return value;
  };
  return {
    get app() {
      return started(app);
    },
    get admin() {
      return started(admin);
    },
    get serverUrl() {
      return started(serverUrl);
    },
    get url() {
      return started(url);
    },
    get database() {
      return new URL(started(url)).pathname.slice(1);
    },
    signUp: (email) => signUp(started(app), email),
  };
}

/** A GoTrue app signing up at once (no mail), hashing fast, on the database at `url`. */
export function faultAppConfig(url: string, poolMax?: number) {
  return {
    store: { ...testStoreConfig(url), ...(poolMax === undefined ? {} : { poolMax }) },
    passwords: FAST_HASHING,
    signup: { confirmEmail: false },
    dialects: { gotrue: {} },
  };
}

/** A GoTrue sign-up of `email` with a fixed password. */
export function signUp(app: TestApp, email: string): Promise<LightMyRequestResponse> {
  return app.app.inject({
    method: 'POST',
    url: '/auth/v1/signup',
    payload: { email, password: 'correct horse battery' },
  });
}

/**
 * Resolves once the app's pool holds no connection: call it before terminating the backends, so the
 * next request opens a new connection (and meets the fault) rather than a terminated one.
 */
export function poolEmptied(app: TestApp): Promise<void> {
  const { pool } = app.services.store as unknown as { pool: pg.Pool };
  return new Promise<void>((resolve) => {
    const onRemove = () => {
      if (pool.totalCount > 0) return;
      pool.off('remove', onRemove);
      resolve();
    };
    pool.on('remove', onRemove);
    onRemove();
  });
}

/** A GoTrue answer as a fault test judges it: its status, Retry-After and JSON body. */
export interface FaultAnswer {
  status: number;
  retryAfter: unknown;
  body: unknown;
}

/**
 * GoTrue's token grants on `fault`'s app for a user signUp made: a password sign-in and a refresh.
 * Made beside useFaultApp; the app is read at each call (it is started in before()).
 */
export function tokenGrants(fault: Pick<FaultApp, 'app'>) {
  const post = async (url: string, payload: object): Promise<FaultAnswer> => {
    const response = await fault.app.app.inject({ method: 'POST', url, payload });
    return {
      status: response.statusCode,
      retryAfter: response.headers['retry-after'],
      body: response.json(),
    };
  };
  return {
    signIn: (email: string) =>
      post('/auth/v1/token?grant_type=password', { email, password: 'correct horse battery' }),
    refresh: (token: string) => post('/auth/v1/token?grant_type=refresh_token', { refresh_token: token }),
  };
}

/** `count` users signed up on `fault` as `prefix`-i@example.com, each with a session; their refresh tokens. */
export async function signedUpUsers(
  fault: Pick<FaultApp, 'signUp'>,
  prefix: string,
  count: number,
): Promise<{ emails: string[]; tokens: string[] }> {
  const emails = Array.from({ length: count }, (_, i) => `${prefix}-${i}@example.com`);
  const tokens: string[] = [];
  for (const email of emails) {
    const answer = await fault.signUp(email);
    if (answer.statusCode !== 200)
      throw new Error(`sign-up of ${email}: ${answer.statusCode} ${answer.body}`);
    tokens.push((answer.json() as { refresh_token: string }).refresh_token);
  }
  return { emails, tokens };
}

/** Each answer a 503 that says when to come back (Retry-After): a fault answered honestly. */
export function assertUnavailable(answers: readonly FaultAnswer[]): void {
  for (const answer of answers) {
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.ok(answer.retryAfter, 'a 503 says when to come back');
  }
}
