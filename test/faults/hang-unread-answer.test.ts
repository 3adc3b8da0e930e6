import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { bytesTaken, dropStalledReaders, type StalledReaderOptions } from '../../src/http/stalled-readers.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { droppedConnections } from '../support/metric-samples.js';

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
      overrides: { requestTimeout: 1, metrics: { enabled: true } },
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
    const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(droppedConnections(scrape.body, 'main').answerMinRate, 1, 'counted');

    // Other clients, reading as they should, get the whole answer.
    const posts = await fetch(`http://127.0.0.1:${port}/posts`);
    assert.equal(posts.status, 200);
    assert.equal(((await posts.json()) as unknown[]).length, POSTS.length);
  });
});

/**
 * A client that reads, but slowly (a chunk now and then, as one taking 1 KB every 20 s): any
 * progress kept it, and its answer in memory, for ever. restauth lets it go when less than
 * `answerMinRate` bytes a second of its answer left over a window of requestTimeout. Real sockets
 * and a real answer waiting in memory; the clock is the test's, and each look is run by the test.
 * Without the rate the slow reader is kept (its progress counts), and the first test fails.
 */
describe('a client that reads its answer slowly', () => {
  const BOUND_MS = 1000;
  const clock = { ms: 0 };
  let look: () => void = () => {};
  // Read at each look: a test sets the rate it is about.
  const options: StalledReaderOptions = {
    minRate: 0,
    now: () => clock.ms,
    schedule: (run) => {
      look = run;
      return () => {};
    },
  };
  // More than the kernel takes in a window of this test's reads (about 6 MB on loopback).
  const answer = Buffer.alloc(16 << 20, 'x');
  const server = createServer((_request, response) => response.end(answer));
  let port: number;

  before(async () => {
    dropStalledReaders(server, BOUND_MS, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A client whose answer waits in the server's memory; returns both ends. */
  async function unreadAnswer(): Promise<{ client: Socket; served: Socket }> {
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect(port, '127.0.0.1');
    client.on('error', () => {});
    client.pause();
    client.write('GET / HTTP/1.1\r\nhost: restauth.test\r\n\r\n');
    const answered = once(server, 'request');
    const [served] = await accepted;
    // The handler (the first 'request' listener) has ended the answer once this one runs; its write
    // is tried when the response uncorks, on the next tick: after it the answer waits in memory.
    await answered;
    await new Promise(setImmediate);
    assert.ok(served.writableLength > 0, 'the answer waits in the server');
    return { client, served };
  }

  /** The client takes a chunk, and again, until some of the server's waiting answer has left. */
  async function readSome(client: Socket, served: Socket): Promise<void> {
    const before = bytesTaken(served);
    while (bytesTaken(served) === before && served.writableLength > 0) {
      client.resume();
      await once(client, 'data');
      client.pause();
      // The kernel's taking is seen by the server's socket on a later turn of the event loop.
      await new Promise(setImmediate);
    }
  }

  /** Reads a little in each quarter of the bound, the clock stepped and the server looking each time. */
  async function readSlowlyFor(ms: number, client: Socket, served: Socket): Promise<void> {
    look();
    for (let at = 0; at < ms && !served.destroyed; at += BOUND_MS / 4) {
      await readSome(client, served);
      clock.ms += BOUND_MS / 4;
      look();
    }
  }

  it('is let go once its answer leaves slower than answerMinRate', async () => {
    options.minRate = 64 << 20;
    const { client, served } = await unreadAnswer();
    await readSlowlyFor(BOUND_MS, client, served);
    assert.ok(served.destroyed, 'the slow reader is let go');
    client.destroy();
  });

  it('is kept while its answer leaves at answerMinRate or faster, or with answerMinRate 0', async () => {
    for (const minRate of [1, 0]) {
      options.minRate = minRate;
      const { client, served } = await unreadAnswer();
      await readSlowlyFor(BOUND_MS, client, served);
      assert.ok(served.writableLength > 0, 'its answer still waits in memory');
      assert.equal(served.destroyed, false, `kept at answerMinRate ${minRate}`);
      client.destroy();
    }
  });
});
