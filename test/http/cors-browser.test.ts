import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { createTestApp, type TestApp } from '../support/app.js';
import { chromiumAvailable, launchBrowser } from '../support/browser.js';

/**
 * CORS as a browser enforces it: a page served from one origin calls restauth on another, in real
 * headless Chromium, which sends the preflights and refuses what the answers do not allow. Before,
 * the preflight allowed only GET, HEAD and POST, so every PUT, PATCH and DELETE from a browser app
 * failed (supabase-js updateUser uses PUT).
 */

/** A blank page on an origin of its own: what a front-end app on another port is. */
async function pageOrigin(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>app</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function listen(t: TestApp): Promise<string> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
}

interface Outcome {
  status?: number;
  body?: unknown;
  total?: string | null;
  error?: string;
}

/**
 * Runs in the page: registers, then each method on /posts with the bearer token. A request the
 * browser blocks (CORS) rejects with a TypeError, reported as `error`.
 */
async function crud(api: string): Promise<Record<string, Outcome>> {
  const outcomes: Record<string, Outcome> = {};
  const call = async (name: string, method: string, path: string, token: string | null, body?: unknown) => {
    try {
      const response = await fetch(`${api}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      outcomes[name] = {
        status: response.status,
        body: text === '' ? null : JSON.parse(text),
        total: response.headers.get('x-total-count'),
      };
    } catch (error) {
      outcomes[name] = { error: String(error) };
    }
    return outcomes[name];
  };
  const registered = await call('register', 'POST', '/auth/register', null, {
    username: 'webapp',
    password: 'webapp-password-1',
  });
  const token = (registered.body as { access_token?: string } | null)?.access_token ?? null;
  await call('post', 'POST', '/posts', token, { id: 'p1', title: 'first' });
  await call('put', 'PUT', '/posts/p1', token, { title: 'replaced' });
  await call('patch', 'PATCH', '/posts/p1', token, { views: 3 });
  await call('list', 'GET', '/posts?_page=1', token);
  await call('delete', 'DELETE', '/posts/p1', token);
  await call('after', 'GET', '/posts/p1', token);
  return outcomes;
}

/** Runs in the page: a call to restauth that sends the browser's cookies; its status, or the error. */
async function withCookies(api: string): Promise<string> {
  try {
    return String((await fetch(`${api}/health`, { credentials: 'include' })).status);
  } catch (error) {
    return String(error);
  }
}

describe('CORS in Chromium', { skip: chromiumAvailable() ?? false }, () => {
  let browser: Browser;
  const pages: Server[] = [];
  let allowed: string;
  let other: string;

  before(async () => {
    browser = await launchBrowser();
    for (const index of [0, 1]) {
      const page = await pageOrigin();
      pages.push(page.server);
      if (index === 0) allowed = page.origin;
      else other = page.origin;
    }
  });
  after(async () => {
    await browser.close();
    for (const server of pages) await new Promise((resolve) => server.close(resolve));
  });

  const app = (cors: unknown) =>
    createTestApp({
      format: 'restauth',
      config: { ...(cors === undefined ? {} : { cors }), data: { rules: { posts: 660 } } },
      files: { 'db.json': JSON.stringify({ posts: [] }) },
    });

  const runFrom = async <T>(origin: string, api: string, inPage: (api: string) => Promise<T>) => {
    const context = await browser.newContext();
    // tsx compiles `crud` with esbuild's keepNames, which wraps inner functions in a __name() helper
    // that exists only in Node: the page gets an identity one.
    await context.addInitScript('globalThis.__name = (fn) => fn;');
    try {
      const page = await context.newPage();
      await page.goto(origin);
      return await page.evaluate(inPage, api);
    } finally {
      await context.close();
    }
  };

  it('lets a page on another origin sign up, then GET, POST, PUT, PATCH and DELETE with its token', async () => {
    const t = await app(undefined);
    try {
      const outcomes = await runFrom(allowed, await listen(t), crud);
      assert.equal(outcomes['register']?.status, 200, JSON.stringify(outcomes['register']));
      assert.equal(outcomes['post']?.status, 201, JSON.stringify(outcomes['post']));
      assert.equal(outcomes['put']?.status, 200, JSON.stringify(outcomes['put']));
      assert.equal(outcomes['patch']?.status, 200, JSON.stringify(outcomes['patch']));
      assert.deepEqual(
        (outcomes['list']?.body as Array<Record<string, unknown>>).map(({ id, title, views }) => ({
          id,
          title,
          views,
        })),
        [{ id: 'p1', title: 'replaced', views: 3 }],
      );
      assert.equal(outcomes['list']?.total, '1', 'X-Total-Count is exposed to the page');
      assert.equal(outcomes['delete']?.status, 200, JSON.stringify(outcomes['delete']));
      assert.equal(outcomes['after']?.status, 404);
    } finally {
      await t.close();
    }
  });

  it('serves only the listed origins when cors is a list', async () => {
    const t = await app([allowed]);
    try {
      const api = await listen(t);
      const listed = await runFrom(allowed, api, crud);
      assert.equal(listed['register']?.status, 200, JSON.stringify(listed['register']));
      assert.equal(listed['patch']?.status, 200, JSON.stringify(listed['patch']));
      const unlisted = await runFrom(other, api, crud);
      assert.match(String(unlisted['register']?.error), /TypeError/, JSON.stringify(unlisted['register']));
      assert.match(String(unlisted['delete']?.error), /TypeError/);
    } finally {
      await t.close();
    }
  });

  it("lets no unlisted origin read an answer made with the browser's cookies; a listed one may", async () => {
    const open = await app(undefined);
    try {
      // Any origin may call restauth without cookies (the first case), not with them.
      assert.match(await runFrom(allowed, await listen(open), withCookies), /TypeError/);
    } finally {
      await open.close();
    }
    const listing = await app([allowed]);
    try {
      assert.equal(await runFrom(allowed, await listen(listing), withCookies), '200');
    } finally {
      await listing.close();
    }
  });

  it('sends no CORS headers with cors: false, so a browser on another origin is refused', async () => {
    const t = await app(false);
    try {
      const outcomes = await runFrom(allowed, await listen(t), crud);
      assert.match(String(outcomes['register']?.error), /TypeError/, JSON.stringify(outcomes['register']));
      const preflight = await t.app.inject({
        method: 'OPTIONS',
        url: '/posts',
        headers: { origin: allowed, 'access-control-request-method': 'PUT' },
      });
      assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    } finally {
      await t.close();
    }
  });
});
