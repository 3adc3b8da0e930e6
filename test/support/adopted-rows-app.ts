import assert from 'node:assert/strict';
import { before } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { createTestApp, type TestApp } from './app.js';
import { FAST_HASHING } from './gotrue.js';
import { serviceTokenOf } from './service-token.js';
import { useTestDatabase, type TestDatabase } from './test-database.js';

/** A session GoTrue's sign-up answers. */
export interface SignedUpSession {
  access_token: string;
  refresh_token: string;
  user: { id: string };
}

/** The adopted-row suites' app: what they change rows under, and how they ask it. */
export interface AdoptedRowsApp {
  /** The app's database, which it migrated itself at start (as on a database GoTrue made). */
  readonly db: TestDatabase;
  readonly t: TestApp;
  /** A service-role token of the app's key. */
  readonly serviceToken: string;
  /** A request through inject, with the token as a bearer when there is one. */
  call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    token?: string,
    payload?: object,
  ): Promise<LightMyRequestResponse>;
  /** A GoTrue sign-up of `email` with `password`, which must answer 200 with a session. */
  signUp<Session extends SignedUpSession = SignedUpSession>(
    email: string,
    password: string,
  ): Promise<Session>;
}

/**
 * A GoTrue-dialect app with fast hashing on a database of the test file's own (useTestDatabase, left
 * unmigrated for the app to migrate), made in a `before` hook and closed before the database is dropped;
 * `config` adds to its settings. The answer's properties are there once the `before` hook ran.
 */
export function useAdoptedRowsApp(config: Record<string, unknown> = {}): AdoptedRowsApp {
  let t: TestApp | undefined;
  let serviceToken = '';
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => t?.close() });
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { store: db.config, passwords: FAST_HASHING, ...config },
    });
    serviceToken = await serviceTokenOf(t);
  });
  const app = (): TestApp => {
    if (!t) throw new Error('useAdoptedRowsApp: the app is read before its before() hook made it');
    return t;
  };
  const call: AdoptedRowsApp['call'] = (method, url, token, payload) =>
    app().app.inject({ method, url, payload, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return {
    db,
    get t() {
      return app();
    },
    get serviceToken() {
      return serviceToken;
    },
    call,
    async signUp<Session extends SignedUpSession>(email: string, password: string) {
      const answer = await call('POST', '/auth/v1/signup', undefined, { email, password });
      assert.equal(answer.statusCode, 200, answer.body);
      return answer.json<Session>();
    },
  };
}
