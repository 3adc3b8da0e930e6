import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { TestApp } from '../support/app.js';
import { createEveryDialectApp } from '../support/every-dialect-app.js';

/**
 * Answers carrying tokens or an account are never stored by a cache (RFC 6749 §5.1 asks
 * `Cache-Control: no-store` of every answer with a token): in every auth dialect, refusals too. A
 * route that chose its own caching keeps it (JWKS), and the data API keeps json-server's `no-cache`.
 */
const PASSWORD = 'a long passphrase';

describe('Cache-Control: no-store on the auth dialects’ answers', () => {
  let t: TestApp;

  before(async () => {
    t = await createEveryDialectApp({
      'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'public' }] }),
    });
  });
  after(() => t.close());

  async function cacheControl(request: InjectOptions, status: number): Promise<string | undefined> {
    const response = await t.app.inject(request);
    assert.equal(response.statusCode, status, `${request.method} ${request.url}: ${response.body}`);
    return response.headers['cache-control'] as string | undefined;
  }

  it('GoTrue: sign-up, sign-in, a refused sign-in, GET /user', async () => {
    const account = { email: 'ann@acme.test', password: PASSWORD };
    assert.equal(
      await cacheControl({ method: 'POST', url: '/auth/v1/signup', payload: account }, 200),
      'no-store',
    );
    const url = '/auth/v1/token?grant_type=password';
    const signIn = await t.app.inject({ method: 'POST', url, payload: account });
    assert.equal(signIn.headers['cache-control'], 'no-store');
    const wrong = { ...account, password: 'not the passphrase' };
    assert.equal(await cacheControl({ method: 'POST', url, payload: wrong }, 400), 'no-store');
    const headers = { authorization: `Bearer ${signIn.json<{ access_token: string }>().access_token}` };
    assert.equal(await cacheControl({ method: 'GET', url: '/auth/v1/user', headers }, 200), 'no-store');
  });

  it('GoTrue: the JWKS keeps its own caching', async () => {
    const jwks = await cacheControl({ method: 'GET', url: '/auth/v1/.well-known/jwks.json' }, 200);
    assert.match(jwks ?? 'none', /^public, max-age=\d+$/u);
  });

  it('json-data-server, json-server-auth and postgrest-auth: their sign-ups and sign-ins', async () => {
    const carol = { username: 'carol', password: PASSWORD };
    assert.equal(
      await cacheControl({ method: 'POST', url: '/auth/register', payload: carol }, 200),
      'no-store',
    );
    assert.equal(await cacheControl({ method: 'POST', url: '/auth/login', payload: carol }, 200), 'no-store');
    const erin = { email: 'erin@acme.test', password: PASSWORD };
    assert.equal(await cacheControl({ method: 'POST', url: '/register', payload: erin }, 201), 'no-store');
    assert.equal(await cacheControl({ method: 'POST', url: '/login', payload: erin }, 200), 'no-store');
    const dave = { username: 'dave', password: PASSWORD };
    assert.equal(await cacheControl({ method: 'POST', url: '/pg/users', payload: dave }, 201), 'no-store');
    assert.equal(
      await cacheControl({ method: 'POST', url: '/pg/refresh_token', payload: dave }, 200),
      'no-store',
    );
  });

  it("the data API keeps json-server's no-cache", async () => {
    // Every data route asks for a token here (json-data-server's default): its refusal is the data API's.
    assert.equal(await cacheControl({ method: 'GET', url: '/posts' }, 401), 'no-cache');
  });
});
