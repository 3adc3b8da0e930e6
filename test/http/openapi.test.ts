import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * The OpenAPI document (src/http/openapi.ts): valid OpenAPI 3.1, every registered route in it, and
 * every answer a scripted run receives matching what the document says of its route and status.
 */

interface Operation {
  requestBody?: unknown;
  parameters?: unknown[];
  responses?: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>> };

let t: TestApp;
let document: OpenApi;

before(async () => {
  t = await createTestApp({
    format: 'restauth',
    config: {
      passwords: FAST_HASHING,
      dialects: { gotrue: {}, jsonDataServer: {}, jsonServerAuth: {}, postgrestAuth: { prefix: '/pg' } },
      metrics: { enabled: true },
    },
    files: {
      'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'a' }], profile: { name: 'x' } }),
    },
  });
  const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  document = response.json<OpenApi>();
});
after(() => t.close());

/** The routes Fastify serves, from its route tree: `METHOD /path`, parameters as `:name`. */
function registeredRoutes(): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)(?:[├└]── )?(.*?) \(([A-Z, ]+)\)$/u.exec(line);
    if (!match) continue;
    const depth = Math.floor(match[1]!.length / 4);
    stack.length = depth;
    stack.push(match[2]!);
    const path = stack.join('');
    for (const method of match[3]!.split(', ')) routes.push(`${method} ${path}`);
  }
  return routes;
}

function templateOf(path: string): string {
  return path.replace(/:([A-Za-z_]+)/gu, '{$1}');
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(
      structuredClone(document) as unknown as Parameters<Validator['validate']>[0],
    );
    assert.deepEqual(result.errors ?? [], []);
    assert.equal(result.valid, true);
  });

  it('holds every registered route with a response schema, and a request schema where it takes input', () => {
    const undocumented: string[] = [];
    const routes = registeredRoutes();
    assert.ok(routes.includes('POST /auth/v1/signup'), `no route tree parsed: ${routes.join(', ')}`);
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      // HEAD mirrors GET, OPTIONS is CORS' preflight; the reference page and its assets are not the API;
      // the data API is one catch-all route documented by its resource paths.
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (path === '/openapi.json' || path.startsWith('/openapi')) continue;
      // The GoTrue prefix's catch-all answers unknown routes in GoTrue's error shape (hidden too).
      if (path === '/' || path === '/*' || path === '/auth/v1/*') continue;
      // So is SCIM's, which refuses every path under /scim/v2 as GoTrue's disabled SCIM server does.
      if (path.startsWith('/auth/v1/scim/v2')) continue;
      const operation = document.paths[templateOf(path)]?.[method.toLowerCase()];
      if (!operation?.responses || Object.keys(operation.responses).length === 0) undocumented.push(route);
      // What a route reads is described: its body, or (sign-out) its query.
      const takesInput = ['POST', 'PUT', 'PATCH'].includes(method);
      if (takesInput && !operation?.requestBody && !operation?.parameters?.length)
        undocumented.push(`${route} (its input)`);
    }
    assert.deepEqual(undocumented, []);
    for (const resourcePath of ['/{resource}', '/{resource}/{id}', '/{resource}/{id}/{child}', '/db']) {
      assert.ok(document.paths[resourcePath], `data API path ${resourcePath}`);
    }
  });

  it('is served with a reference page', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/openapi/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/u);
    assert.match(page.body, /swagger/iu);
  });
});

describe('the answers match the document', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);

  /** The document's operation for a request: its path template matched segment by segment. */
  function operationOf(method: string, url: string): Operation {
    const path = new URL(url, 'http://x').pathname;
    const segments = path.split('/');
    const candidates = Object.keys(document.paths).filter((template) => {
      const parts = template.split('/');
      return (
        parts.length === segments.length &&
        parts.every((part, i) => part === segments[i] || (part.startsWith('{') && segments[i] !== ''))
      );
    });
    // The most literal template wins (/auth/v1/user before /{resource}/{id}/{child}).
    candidates.sort((a, b) => (a.match(/\{/gu)?.length ?? 0) - (b.match(/\{/gu)?.length ?? 0));
    const operation = candidates.map((c) => document.paths[c]![method.toLowerCase()]).find(Boolean);
    assert.ok(operation, `no operation for ${method} ${path}`);
    return operation;
  }

  const checked = new Set<string>();

  async function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options: { body?: unknown; token?: string } = {},
  ): Promise<LightMyRequestResponse> {
    const response = await t.app.inject({
      method,
      url,
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
      ...(options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
    });
    const status = String(response.statusCode);
    const described = operationOf(method, url).responses?.[status];
    assert.ok(described, `${method} ${url} answered ${status}, which the document does not list`);
    const schema = Object.values(described.content ?? {})[0]?.schema;
    if (schema !== undefined) {
      const isJson = /json/u.test(String(response.headers['content-type'] ?? ''));
      const body = response.body === '' ? null : isJson ? response.json() : response.body;
      const validate = ajv.compile(schema as object);
      assert.ok(
        validate(body),
        `${method} ${url} ${status}: ${ajv.errorsText(validate.errors)}\n${response.body.slice(0, 500)}`,
      );
    }
    checked.add(`${method} ${url.split('?')[0]} ${status}`);
    return response;
  }

  it('on every dialect, the data API and the probes', async () => {
    // GoTrue
    await call('GET', '/auth/v1/settings');
    await call('GET', '/auth/v1/health');
    await call('GET', '/auth/v1/.well-known/jwks.json');
    const signUp = await call('POST', '/auth/v1/signup', {
      body: { email: 'ann@example.com', password: 'a-good-password' },
    });
    const session = signUp.json<{ access_token: string; refresh_token: string }>();
    await call('POST', '/auth/v1/signup', { body: { email: 'not an address', password: 'a-good-password' } });
    await call('POST', '/auth/v1/token?grant_type=password', {
      body: { email: 'ann@example.com', password: 'wrong-password' },
    });
    const signIn = await call('POST', '/auth/v1/token?grant_type=password', {
      body: { email: 'ann@example.com', password: 'a-good-password' },
    });
    const { access_token: token, refresh_token: refresh } = signIn.json<{
      access_token: string;
      refresh_token: string;
    }>();
    await call('POST', '/auth/v1/token?grant_type=refresh_token', { body: { refresh_token: refresh } });
    await call('GET', '/auth/v1/user', { token });
    await call('GET', '/auth/v1/user', { token: 'not-a-jwt' });
    await call('PUT', '/auth/v1/user', { token, body: { data: { name: 'Ann' } } });
    await call('POST', '/auth/v1/recover', { body: { email: 'ann@example.com' } });
    await call('POST', '/auth/v1/otp', { body: { email: 'bob@example.com' } });
    await call('POST', '/auth/v1/resend', { body: { email: 'ann@example.com', type: 'signup' } });
    await call('POST', '/auth/v1/verify', { body: { type: 'magiclink', token_hash: 'not-a-token' } });
    await call('GET', '/auth/v1/verify?token=abc&type=magiclink');
    await call('GET', '/auth/v1/verify');
    await call('POST', '/auth/v1/logout', { token: session.access_token });

    const service = await serviceTokenOf(t);
    await call('GET', '/auth/v1/admin/users', { token });
    const list = await call('GET', '/auth/v1/admin/users?page=1&per_page=10', { token: service });
    const annId = list.json<{ users: { id: string }[] }>().users[0]!.id;
    const created = await call('POST', '/auth/v1/admin/users', {
      token: service,
      body: { email: 'cy@example.com', password: 'a-good-password', email_confirm: true },
    });
    const cyId = created.json<{ id: string }>().id;
    await call('GET', `/auth/v1/admin/users/${annId}`, { token: service });
    await call('GET', '/auth/v1/admin/users/00000000-0000-4000-8000-000000000000', { token: service });
    await call('PUT', `/auth/v1/admin/users/${cyId}`, { token: service, body: { user_metadata: { a: 1 } } });
    await call('POST', '/auth/v1/admin/generate_link', {
      token: service,
      body: { type: 'magiclink', email: 'cy@example.com' },
    });
    await call('GET', '/auth/v1/admin/audit?page=1&per_page=5', { token: service });
    await call('POST', '/auth/v1/invite', { token: service, body: { email: 'ivy@example.com' } });
    await call('POST', '/auth/v1/invite', { token: service, body: { email: 'ann@example.com' } });
    await call('GET', '/auth/v1/reauthenticate', { token });
    await call('DELETE', `/auth/v1/admin/users/${cyId}`, { token: service });

    // json-data-server
    const registered = await call('POST', '/auth/register', {
      body: { username: 'dee', password: 'a-good-password' },
    });
    const dee = registered.json<{ access_token: string; refresh_token: string }>();
    await call('POST', '/auth/register', { body: { username: 'dee' } });
    await call('POST', '/auth/login', { body: { username: 'dee', password: 'a-good-password' } });
    await call('POST', '/auth/refresh', { body: { refresh_token: dee.refresh_token } });
    await call('POST', '/auth/check', { body: { access_token: dee.access_token } });
    await call('POST', '/auth/password', {
      body: { username: 'dee', password: 'a-good-password', newpassword: 'another-good-password' },
    });
    const again = await call('POST', '/auth/login', {
      body: { username: 'dee', password: 'another-good-password' },
    });
    await call('POST', '/auth/logout', { token: again.json<{ access_token: string }>().access_token });

    // json-server-auth
    for (const path of ['/register', '/signup', '/users']) {
      await call('POST', path, {
        body: { email: `fay${path.slice(1)}@example.com`, password: 'a-good-password' },
      });
    }
    await call('POST', '/register', {
      body: { email: 'fayregister@example.com', password: 'a-good-password' },
    });
    for (const path of ['/login', '/signin']) {
      await call('POST', path, { body: { email: 'fayregister@example.com', password: 'a-good-password' } });
    }
    await call('POST', '/login', { body: { email: 'fayregister@example.com' } });

    // postgrest-auth
    const pg = await call('POST', '/pg/users', { body: { username: 'eve', password: 'a-good-password' } });
    const pgToken = pg.json<{ access_token: string }>().access_token;
    await call('POST', '/pg/users', { body: { username: 'e', password: 'x' } });
    await call('POST', '/pg/refresh_token', { token: pgToken });
    await call('POST', '/pg/change_password', {
      body: {
        username: 'eve',
        current_password: 'a-good-password',
        new_password: 'another-good-password',
        new_password_confirm: 'another-good-password',
      },
    });
    await call('POST', '/pg/change_email', {
      body: { username: 'eve', password: 'another-good-password', email: 'eve@example.com' },
    });
    await call('POST', '/pg/forgot_password', { body: { username: 'eve' } });
    await call('POST', '/pg/forgot_username', { body: { email: 'eve@example.com' } });

    // The data API and the probes
    await call('GET', '/posts');
    await call('GET', '/posts', { token });
    await call('POST', '/posts', { token, body: { title: 'b' } });
    await call('GET', '/posts/1', { token });
    await call('GET', '/posts/999', { token });
    await call('PATCH', '/posts/1', { token, body: { title: 'c' } });
    await call('PUT', '/posts/1', { token, body: { title: 'd' } });
    await call('GET', '/profile', { token });
    await call('GET', '/db', { token });
    await call('DELETE', '/posts/2', { token });
    await call('GET', '/health');
    await call('GET', '/ready');
    await call('GET', '/metrics');

    // Every documented operation was exercised at least once.
    const exercised = new Set([...checked].map((entry) => entry.split(' ').slice(0, 2).join(' ')));
    assert.ok(exercised.size >= 40, `only ${exercised.size} routes exercised`);
  });
});

describe('openapi.enabled: false', () => {
  it('serves neither the document nor the page, and answers the same', async () => {
    const off = await createTestApp({ format: 'restauth', config: { openapi: { enabled: false } } });
    try {
      for (const url of ['/openapi.json', '/openapi', '/openapi/']) {
        const response = await off.app.inject({ method: 'GET', url });
        assert.notEqual(response.statusCode, 200, url);
      }
      const [offSettings, onSettings] = await Promise.all(
        [off, t].map((app) => app.app.inject({ method: 'GET', url: '/auth/v1/settings' })),
      );
      assert.deepEqual(offSettings!.json(), onSettings!.json());
    } finally {
      await off.close();
    }
  });
});
