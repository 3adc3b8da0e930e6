import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createTestApp, type TestApp } from '../support/app.js';

/** Every registered route and its methods, from Fastify's printed route tree (its only public list). */
function registeredRoutes(app: FastifyInstance): Array<{ path: string; methods: string[] }> {
  const routes: Array<{ path: string; methods: string[] }> = [];
  const ancestors: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?(?: \{.*\})?$/u.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    ancestors.length = depth;
    ancestors.push(match[2] ?? '');
    if (match[3]) routes.push({ path: ancestors.join(''), methods: match[3].split(', ') });
  }
  return routes;
}

/**
 * `X-Content-Type-Options: nosniff` on every answer of every dialect: the data API sent it, GoTrue's
 * JSON answers and hosted pages (/verify) did not. The real app with every dialect, the data API and
 * the OpenAPI pages is asked every registered route with every method (parameters filled with a
 * word, bodies empty), so each answer a route gives to a stranger (mostly 4xx) is checked, plus a
 * 404 and a body that is not JSON. Pages carrying tokens in their URL send a Referer to restauth alone (same-origin).
 */
describe('nosniff on every answer of every registered route', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        dialects: { gotrue: {}, postgrestAuth: {}, jsonDataServer: {}, jsonServerAuth: { enabled: true } },
        openapi: { enabled: true },
        data: { static: '.', rules: { posts: 444 } },
      },
      files: { 'db.json': JSON.stringify({ posts: [{ id: 1 }] }), 'page.html': '<p>a page</p>' },
    });
  });
  after(() => t.close());

  it('every route, every method, a 404 and refused bodies', async () => {
    const routes = registeredRoutes(t.app);
    assert.ok(routes.length > 80, `the route tree was read (${routes.length} routes)`);
    const asked: string[] = [];
    for (const { path, methods } of routes) {
      const url = path.replace(/:[A-Za-z]+/gu, 'x').replace(/\*/gu, 'x');
      for (const method of methods) {
        const body = ['POST', 'PUT', 'PATCH'].includes(method) ? { payload: {} } : {};
        const answer = await t.app.inject({ method: method as 'GET', url, ...body });
        asked.push(`${method} ${url} ${answer.statusCode}`);
        assert.equal(
          answer.headers['x-content-type-options'],
          'nosniff',
          `${method} ${url} ${answer.statusCode}`,
        );
        if (/^text\/html/u.test(String(answer.headers['content-type'])) && url.startsWith('/auth/')) {
          assert.equal(answer.headers['referrer-policy'], 'same-origin', `${method} ${url}`);
        }
      }
    }
    assert.ok(
      asked.some((line) => / \/auth\/v1\/verify /u.test(line)),
      'GoTrue verify was asked',
    );
    const verifyPage = await t.app.inject({ url: '/auth/v1/verify?type=signup&token=x' });
    assert.equal(verifyPage.headers['x-content-type-options'], 'nosniff');
    // The data API's answers (it set nosniff itself once), a JSONP read and a static file.
    const dataAnswers: Array<[string, number]> = [
      ['/posts', 200],
      ['/posts/1', 200],
      ['/posts?callback=cb', 200],
      ['/posts/2', 404],
      ['/page.html', 200],
      ['/db', 200],
    ];
    for (const [url, status] of dataAnswers) {
      const answer = await t.app.inject({ url });
      assert.equal(answer.statusCode, status, `${url}: ${answer.body}`);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff', url);
    }
    const missing = await t.app.inject({ url: '/no/such/route' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.headers['x-content-type-options'], 'nosniff');
    // Refused before any handler: a body that is not JSON, a type no parser reads.
    const refusedBodies: Array<[string, string, number]> = [
      ['application/json', '{"email":', 400],
      ['text/csv', 'a,b', 400],
    ];
    for (const [type, payload, status] of refusedBodies) {
      const refused = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        headers: { 'content-type': type },
        payload,
      });
      assert.equal(refused.statusCode, status, type);
      assert.equal(refused.headers['x-content-type-options'], 'nosniff', type);
    }
  });
});
