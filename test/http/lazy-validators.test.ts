import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { LazyValidators } from '../../src/http/lazy-validators.js';
import { createTestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * Route schemas compile on a route's first request (src/http/lazy-validators.ts), so a schema Ajv
 * refuses no longer stops the start: this compiles every schema of every route restauth mounts.
 */
describe('lazy route validators', () => {
  it('every schema of every mounted route compiles, and none did at start', async () => {
    const validators = new LazyValidators();
    const t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        dialects: { gotrue: {}, jsonDataServer: {}, jsonServerAuth: {}, postgrestAuth: { prefix: '/pg' } },
        identities: { manualLinking: true },
        metrics: { enabled: true },
      },
      files: { 'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'a' }] }) },
      validators,
    });
    try {
      const atStart = validators.pending;
      assert.ok(atStart > 50, `${atStart} route schemas waiting after start`);
      validators.compileAll();
      assert.equal(validators.pending, 0);
      // Compiled ones keep answering as at start: a wrong type is a 400 naming the field.
      const refused = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 5, password: 'a long enough password' },
      });
      assert.equal(refused.statusCode, 400);
      assert.match(refused.body, /body\/email must be string/);
    } finally {
      await t.close();
    }
  });

  it('validates as Fastify does: defaults set, wrong input refused, a refused schema found by compileAll', async () => {
    const validators = new LazyValidators();
    const app = Fastify({
      // No HEAD twins: each route here has one validator, so the counts below are the routes'.
      exposeHeadRoutes: false,
      schemaController: { compilersFactory: { buildValidator: validators.buildValidator } },
    });
    app.get(
      '/page',
      {
        schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', default: 10 } } } },
      },
      async (request) => request.query,
    );
    app.post(
      '/signup',
      {
        schema: {
          body: {
            type: 'object',
            required: ['email'],
            properties: { email: { type: 'string' }, data: { type: 'object', default: {} } },
          },
        },
      },
      async (request) => request.body,
    );
    app.post('/broken', { schema: { body: { type: 'no such type' } } }, async () => 'unreachable');
    try {
      // The broken schema does not stop the start: it waits with the others.
      await app.ready();
      assert.equal(validators.pending, 3);

      const defaulted = await app.inject({ method: 'GET', url: '/page' });
      assert.deepEqual(defaulted.json(), { limit: 10 });
      const refused = await app.inject({ method: 'GET', url: '/page?limit=ten' });
      assert.equal(refused.statusCode, 400);
      assert.match(refused.json<{ message: string }>().message, /querystring\/limit must be integer/);
      const body = await app.inject({ method: 'POST', url: '/signup', payload: { email: 'a@example.com' } });
      assert.deepEqual(body.json(), { email: 'a@example.com', data: {} });

      assert.equal(validators.pending, 1);
      assert.throws(() => validators.compileAll(), /schema is invalid: data\/type/);
    } finally {
      await app.close();
    }
  });
});
