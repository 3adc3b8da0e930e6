import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A request target in absolute-form (`GET http://evil.test/auth/v1/verify?...`, what a client sends
 * a forward proxy, and a server must take) names a host as a Host header does. Fastify routed it by
 * its path while request.url kept the host: the hosted verify page's form (the link's token in its
 * action) posted to the named host, and the data API took `http:` for the collection. Sent by
 * node:http, as a proxy client sends it (app.inject() makes every target a path first).
 */
const PUBLIC_URL = 'https://api.example.test';

describe('an absolute-form request target is its path, never its host', () => {
  let t: TestApp;
  let port: number;
  let token: string;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        data: { rules: { posts: 660 }, routes: { '/api/*': '/$1' } },
      },
      overrides: { publicUrl: PUBLIC_URL },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
    });
    const signedUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'ada@example.test', password: 'absolute-form-password-1' },
    });
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    token = signedUp.json().access_token;
    port = Number(new URL(await t.app.listen({ port: 0, host: '127.0.0.1' })).port);
  });
  after(async () => {
    await t?.close();
  });

  /** One request with `target` as its request line's target, written as given. */
  const send = (method: string, target: string, body?: unknown) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: target,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });

  it("posts the verify page's form to restauth's own path, not to the target's host", async () => {
    const page = await send('GET', 'http://evil.test/auth/v1/verify?type=magiclink&token=abc');
    assert.equal(page.status, 200, page.body);
    const action = /<form method="post" action="([^"]*)"/u.exec(page.body)?.[1];
    assert.equal(action, '/auth/v1/verify?type=magiclink&amp;token=abc');
  });

  it("serves the data API by the target's path, its Location under the public URL", async () => {
    const created = await send('POST', 'http://evil.test/posts', { title: 'by a proxy client' });
    assert.equal(created.status, 201, created.body);
    const id = (JSON.parse(created.body) as { id: string | number }).id;
    assert.equal(created.headers['location'], `${PUBLIC_URL}/posts/${id}`);
    const read = await send('GET', `HTTPS://evil.test/posts/${id}`);
    assert.equal(read.status, 200, read.body);
    assert.equal((JSON.parse(read.body) as { title: string }).title, 'by a proxy client');
  });

  it("is rewritten by routes.json as its path is, and reaches only the rewrite's routes", async () => {
    const created = await send('POST', 'http://evil.test/api/posts', { title: 'rewritten' });
    assert.equal(created.status, 201, created.body);
    assert.equal((await send('GET', 'http://evil.test/auth/v1/settings')).status, 200);
    // A rewrite leads to the data API only (guarded-paths.ts), whichever form the target came in.
    assert.equal((await send('GET', 'http://evil.test/api/auth/v1/settings')).status, 404);
  });
});
