import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * Only what the configuration asks for is reachable (DESIGN, Principles):
 * each config format mounts its own dialect, and every other dialect's
 * routes answer 404, as if restauth did not know them.
 */

const SECRET = 'mounting-test-secret-0123456789abcdef';

/** One route of each dialect (and the data API) that answers something other than 404 when mounted. */
const PROBES = {
  gotrue: { method: 'GET', url: '/auth/v1/settings' },
  gotrueAdmin: { method: 'GET', url: '/auth/v1/admin/users' },
  jsonDataServer: { method: 'POST', url: '/auth/login', payload: { username: 'x', password: 'y' } },
  postgrestAuthBearerRefresh: { method: 'POST', url: '/auth/refresh_token', payload: {} },
  postgrestAuthSignUp: { method: 'POST', url: '/auth/users', payload: {} },
  dataApi: { method: 'GET', url: '/users' },
} as const;

type Probe = keyof typeof PROBES;

async function reachable(app: FastifyInstance, probe: Probe): Promise<boolean> {
  const { method, url, ...rest } = PROBES[probe];
  const res = await app.inject({ method, url, ...('payload' in rest ? { payload: rest.payload } : {}) });
  assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.statusCode !== 404;
}

async function assertMounted(app: FastifyInstance, expected: Probe[]): Promise<void> {
  const found: Probe[] = [];
  for (const probe of Object.keys(PROBES) as Probe[]) if (await reachable(app, probe)) found.push(probe);
  assert.deepEqual(found, expected);
}

describe('a json-data-server config.json', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4, jwtSecret: SECRET } },
    });
  });
  after(() => t.close());

  it('mounts its routes and the data API, nothing of GoTrue or postgrest-auth', async () => {
    await assertMounted(t.app, ['jsonDataServer', 'dataApi']);
  });

  it("does not let an access token renew itself through postgrest-auth's bearer refresh", async () => {
    const token = await registeredToken(t, 'renewer', 'a passphrase');
    const renewed = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh_token',
      headers: { authorization: `Bearer ${token}` },
      payload: {},
    });
    assert.equal(renewed.statusCode, 404, renewed.body);
  });

  it('does not serve the GoTrue admin API to a service-role token', async () => {
    const service = await serviceTokenOf(t);
    const res = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/admin/users',
      headers: { authorization: `Bearer ${service}` },
    });
    assert.equal(res.statusCode, 404, res.body);
  });
});

describe('a restauth.json', () => {
  it('without `dialects`: GoTrue and json-data-server, with the data API; not postgrest-auth', async () => {
    const t = await createTestApp({ format: 'restauth', config: {} });
    try {
      await assertMounted(t.app, ['gotrue', 'gotrueAdmin', 'jsonDataServer', 'dataApi']);
    } finally {
      await t.close();
    }
  });

  it('with `dialects`: exactly the dialects it names', async () => {
    const t = await createTestApp({ format: 'restauth', config: { dialects: { gotrue: {} } } });
    try {
      await assertMounted(t.app, ['gotrue', 'gotrueAdmin', 'dataApi']);
    } finally {
      await t.close();
    }
  });

  it('a named dialect may still be turned off, and the data API too', async () => {
    const t = await createTestApp({
      format: 'restauth',
      config: { dialects: { gotrue: { enabled: false }, postgrestAuth: {} }, data: { enabled: false } },
    });
    try {
      await assertMounted(t.app, ['postgrestAuthBearerRefresh', 'postgrestAuthSignUp']);
    } finally {
      await t.close();
    }
  });
});

describe('a postgrest-auth.json', () => {
  let t: TestApp;
  let serverUrl: string;
  let url: string;
  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    t = await createTestApp({
      format: 'postgrest-auth',
      config: { db: { connection_string: url }, secret: SECRET },
      env: { RESTAUTH_JWT_SECRET: '' },
      overrides: { store: { type: 'postgres', preparedStatements: testStoreConfig(url).preparedStatements } },
    });
  });
  after(async () => {
    await t.close();
    await dropDatabase(serverUrl, url);
  });

  it('mounts its endpoints only', async () => {
    await assertMounted(t.app, ['postgrestAuthBearerRefresh', 'postgrestAuthSignUp']);
  });
});
