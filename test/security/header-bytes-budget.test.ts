import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { linesLogger } from '../support/log-lines.js';
import { droppedConnections } from '../support/metric-samples.js';

const BUDGET = 1024 * 1024;
/** Each held header section's padding: under maxHeaderSize (about 295 KB), a quarter of the budget. */
const PAD = 256 * 1024;
/** A header section held unfinished: everything but the blank line that ends it. */
const UNFINISHED = `GET /health HTTP/1.1\r\nHost: restauth.test\r\nX-Pad: ${'a'.repeat(PAD)}`;
/** What finishes it. */
const END_OF_HEADERS = '\r\n\r\n';
/** Three held sections fit in the budget, four do not (each is PAD and its first lines). */
const FIT = 3;

/** A connection to the app, with what it received and its end (the server closing it) as a promise. */
interface Client {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
}

function open(port: number): Client {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  // A connection cut while it still sends is reset.
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => {});
  return { socket, received: () => received, closed };
}

/** Resolves once `client` has received `count` whole answers (a head and its Content-Length of body). */
async function answers(client: Client, count: number): Promise<string[]> {
  for (;;) {
    const found: string[] = [];
    let rest = client.received();
    for (;;) {
      const head = rest.indexOf('\r\n\r\n');
      if (head === -1) break;
      const length = Number(/\r\ncontent-length: (\d+)/iu.exec(rest.slice(0, head))?.[1] ?? 0);
      if (rest.length < head + 4 + length) break;
      found.push(rest.slice(0, head + 4 + length));
      rest = rest.slice(head + 4 + length);
    }
    if (found.length >= count) return found;
    assert.ok(!client.socket.destroyed, `closed after ${found.length} of ${count} answers`);
    await Promise.race([once(client.socket, 'data'), client.closed]);
  }
}

/** Resolves once `count` of `clients` have been closed by the server. */
function closings(clients: Client[], count: number): Promise<void> {
  let closed = 0;
  return new Promise((resolve) => {
    for (const client of clients)
      void client.closed.then(() => {
        if (++closed === count) resolve();
      });
  });
}

/**
 * Unfinished request header sections share one budget across the server (requestHeaderBudget), as
 * bodies do: each may be as large as maxHeaderSize (about 295 KB, room for large access tokens),
 * and a section sent slowly and never finished was held until requestTimeout, on each of the
 * maxConnections (10,000) connections: 2.9 GB from ten clients; 400 connections of 280 KB raised
 * the server's RSS by 110 MB. requestTimeout is an hour here: only the budget closes anything, and
 * without it the test fails at its guard.
 */
describe('requestHeaderBudget: unfinished header sections held at once across the server', () => {
  let t: TestApp;
  let port: number;
  const lines: string[] = [];
  const clients: Client[] = [];

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { requestHeaderBudget: BUDGET, requestTimeout: 3600, metrics: { enabled: true } },
      log: linesLogger('warn', lines),
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const { socket } of clients) socket.destroy();
    await t?.close();
  });

  function client(): Client {
    const opened = open(port);
    clients.push(opened);
    return opened;
  }

  it(
    'cuts the connections holding the most until the rest fit, new and keep-alive ones alike',
    { timeout: 30_000 },
    async () => {
      // 16 sections of 256 KiB (4 MiB) against 1 MiB: half on new connections, half after a first
      // request answered on a keep-alive one, whose next section counts as well.
      const held: Client[] = [];
      for (let i = 0; i < 8; i++) {
        const fresh = client();
        fresh.socket.write(UNFINISHED);
        const kept = client();
        kept.socket.write(`GET /health HTTP/1.1\r\nHost: restauth.test\r\n\r\n`);
        assert.match((await answers(kept, 1))[0]!, /^HTTP\/1\.1 200 /u);
        kept.socket.write(UNFINISHED);
        held.push(fresh, kept);
      }
      await closings(held, held.length - FIT);

      const left = held.filter(({ socket }) => !socket.destroyed);
      assert.equal(left.length, FIT, 'those that fit are kept');
      for (const cut of held.filter((one) => !left.includes(one))) {
        // What a cut connection received, if its reset did not lose it: a 503, after the keep-alive
        // ones' first answer.
        const answer = cut.received().replace(/^HTTP\/1\.1 200 [^]*?\{"status":"ok"\}/u, '');
        if (answer !== '')
          assert.match(answer, /^HTTP\/1\.1 503 [^]*\r\nRetry-After: 5\r\n[^]*over_capacity/u);
      }
      // Finished, the sections kept are answered.
      for (const kept of left) {
        const already = (await answers(kept, 0)).length;
        kept.socket.write(END_OF_HEADERS);
        assert.match((await answers(kept, already + 1)).at(-1)!, /^HTTP\/1\.1 200 /u);
      }

      const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(droppedConnections(scrape.body, 'main').requestHeaderBudget, held.length - FIT);
      assert.ok(
        lines.some((line) => line.includes('passed requestHeaderBudget')),
        'the refusals are said in the log',
      );
    },
  );

  it(
    'counts nothing of requests whose headers came whole, pipelined or kept alive',
    { timeout: 30_000 },
    async () => {
      // Five pipelined requests of nearly the budget's size each and the start of a sixth, in one
      // write: the connection is seldom between two requests when the server looks, yet what the
      // five were is not held against the sixth.
      const pipelining = client();
      const big = `GET /health HTTP/1.1\r\nHost: restauth.test\r\nX-Pad: ${'b'.repeat(200 * 1024)}\r\n\r\n`;
      pipelining.socket.write(`${big.repeat(5)}GET /health HTTP/1.1\r\nHost: restauth.test\r\n`);
      for (const answer of await answers(pipelining, 5)) assert.match(answer, /^HTTP\/1\.1 200 /u);

      // Four held sections pass the budget: one of them goes, never the pipelining connection.
      const held: Client[] = [];
      for (let i = 0; i <= FIT; i++) {
        const one = client();
        one.socket.write(UNFINISHED);
        held.push(one);
      }
      await closings(held, 1);
      assert.equal(pipelining.socket.destroyed, false, 'the pipelining connection is kept');
      pipelining.socket.write('\r\n');
      assert.match((await answers(pipelining, 6)).at(-1)!, /^HTTP\/1\.1 200 /u);
    },
  );
});
