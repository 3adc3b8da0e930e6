import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Slowloris: clients that send a request slowly, or stop half-way, each hold
 * a connection (a file descriptor) and a request in flight, which shutdown
 * waits for. Fastify turns Node's request timeout off (0); restauth bounds
 * every request at `requestTimeout` seconds: the client gets 408 and the
 * connection is closed, and other clients are served meanwhile.
 */
describe('slow clients (slowloris) against a listening server', () => {
  let t: TestApp;
  let port: number;

  before(async () => {
    t = await createTestApp({ format: 'restauth', config: { requestTimeout: 1 } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  after(() => t?.close());

  /** Sends `text` and nothing more; resolves with what the server sent once it closes the connection. */
  function sendAndStall(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(text));
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
  }

  // A guard, not a timing: without the bound the server never closes, and the test fails here.
  const GUARD = { timeout: 60_000 };

  it('a body that stops half-way: 408, the connection closed', GUARD, async () => {
    const answer = await sendAndStall(
      'POST /auth/v1/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\n\r\n{"email":',
    );
    assert.match(answer, /^HTTP\/1\.1 408 /u);
  });

  it('headers that never end: 408, the connection closed', GUARD, async () => {
    const answer = await sendAndStall('GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1');
    assert.match(answer, /^HTTP\/1\.1 408 /u);
  });

  it('many stalled clients do not keep others waiting, and all of them are let go', GUARD, async () => {
    const stalled = Array.from({ length: 50 }, () =>
      sendAndStall(
        'POST /auth/v1/token?grant_type=password HTTP/1.1\r\nHost: localhost\r\n' +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      ),
    );
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(response.status, 200);
    for (const answer of await Promise.all(stalled)) assert.match(answer, /^HTTP\/1\.1 408 /u);
  });
});

describe('a requestTimeout above the 300 s default of Node', () => {
  it('starts and bounds requests at it (Node refused a headersTimeout above 300 s)', async () => {
    const t = await createTestApp({ format: 'restauth', config: { requestTimeout: 3600 } });
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      assert.equal(t.app.server.requestTimeout, 3_600_000);
      assert.equal(t.app.server.headersTimeout, 3_600_000);
    } finally {
      await t.close();
    }
  });
});
