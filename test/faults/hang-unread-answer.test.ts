import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Slowloris the other way round: a client asks for a large answer and never reads it. The kernel's
 * buffers fill, and the rest of the answer waits in restauth's memory (4.4 MB here), with the
 * connection, for as long as the client stays connected: TCP keeps a peer that acknowledges with a
 * zero window alive for ever, and Node's bounds (requestTimeout, headersTimeout) end at the request.
 * restauth lets such a connection go once `requestTimeout` passes with none of its answer leaving.
 * Without that the server's socket never closes and the test fails at its guard.
 */
const POSTS = Array.from({ length: 20_000 }, (_, id) => ({ id, title: 'x'.repeat(200) }));

describe('a client that stops reading its answer', () => {
  let t: TestApp;
  let port: number;

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { rules: { posts: 444 } },
      overrides: { requestTimeout: 1 },
      files: { 'db.json': JSON.stringify({ users: [], posts: POSTS }) },
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  after(() => t?.close());

  // A guard, not a timing: without the bound the server's socket stays open and the test fails here.
  it('is let go after requestTimeout, and its answer freed', { timeout: 30_000 }, async () => {
    const accepted = once(t.app.server, 'connection') as Promise<[Socket]>;
    const client = connect(port, '127.0.0.1');
    const [server] = await accepted;
    client.on('error', () => {});
    // Never read: what the server sends stays in the kernel's buffers, then in the server's memory.
    client.pause();
    client.write('GET /posts HTTP/1.1\r\nhost: restauth.test\r\naccept-encoding: identity\r\n\r\n');
    await once(server, 'close');
    assert.equal(server.writableLength, 0, 'the waiting answer is dropped');
    client.destroy();

    // Other clients, reading as they should, get the whole answer.
    const posts = await fetch(`http://127.0.0.1:${port}/posts`);
    assert.equal(posts.status, 200);
    assert.equal(((await posts.json()) as unknown[]).length, POSTS.length);
  });
});
