import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { parse, valueOf } from '../support/metric-samples.js';

const BUDGET = 8192;
/** Two uploads of this size, all but their last byte sent, spend the budget but 2 bytes; bodyLimit (100 KiB) is far above it. */
const UPLOAD = BUDGET / 2;
/** What each held upload sends: all of its body but the last byte. */
const MOST_OF_UPLOAD = `{"email":"${'a'.repeat(UPLOAD - 11)}`;

/**
 * One process-wide budget on request bodies (requestBodyBudget): each route bounds its own body
 * (bodyLimit), but clients that send headers and part of a body and then hold each kept bodyLimit
 * bytes for up to requestTimeout, and maxConnections of them added up to 1 GB at the defaults.
 * Real sockets against the listening app: uploads held near their end spend the budget, a new body
 * is then refused 503 with Retry-After (Content-Length or chunked), one larger than the whole budget
 * 413 before it is read, and bodiless routes keep answering; the budget comes back once they end.
 * Bytes count as they arrive, not as declared: sockets that declare large bodies and send nothing
 * do not spend it.
 */
describe('requestBodyBudget: request bodies held at once across the process', () => {
  let t: TestApp;
  let port: number;
  const held: Socket[] = [];

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { requestBodyBudget: BUDGET, metrics: { enabled: true } },
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const socket of held) socket.destroy();
    await t?.close();
  });

  async function scrape(): Promise<{ held: number; refused: number }> {
    const samples = parse(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    return {
      held: valueOf(samples, 'restauth_http_request_body_bytes_held') ?? NaN,
      refused: valueOf(samples, 'restauth_http_request_bodies_refused_total') ?? NaN,
    };
  }

  /** Scrapes until the bytes held are `bytes` (each scrape awaited: no timer). */
  async function heldReaches(bytes: number): Promise<void> {
    while ((await scrape()).held !== bytes);
  }

  /** Sends the headers of an upload of `length` bytes and `part` of its body, and holds. */
  async function holdUpload(length: number, part: string): Promise<Socket> {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(
      `POST /auth/v1/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${length}\r\n\r\n${part}`,
    );
    held.push(socket);
    return socket;
  }

  /** Sends `text` on a new connection; resolves with what came back once the server closed it. */
  function sendRaw(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(text));
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET') reject(error);
      });
      socket.on('close', () => resolve(received));
    });
  }

  // A guard, not a timing: without the budget the bytes held never reach what the test waits for.
  const GUARD = { timeout: 30_000 };
  const SIGNUP = 'POST /auth/v1/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n';

  it(
    'held uploads spend it: a new body is refused 503 with Retry-After, others keep answering',
    GUARD,
    async () => {
      const uploads = [await holdUpload(UPLOAD, MOST_OF_UPLOAD), await holdUpload(UPLOAD, MOST_OF_UPLOAD)];
      await heldReaches(BUDGET - 2);

      const refused = await sendRaw(`${SIGNUP}Content-Length: 3\r\n\r\n{ }`);
      assert.match(refused, /^HTTP\/1\.1 503 /u);
      assert.match(refused, /\r\nretry-after: 5\r\n/iu);
      assert.match(refused, /\r\nconnection: close\r\n/iu);
      assert.match(refused, /\r\nx-content-type-options: nosniff\r\n/iu);
      // GoTrue's shape: the route's dialect words it.
      const body = JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4)) as { error_code?: string };
      assert.equal(body.error_code, 'over_capacity');

      // A chunked body is counted as it comes, and refused the same way.
      const chunked = await sendRaw(`${SIGNUP}Transfer-Encoding: chunked\r\n\r\n3\r\n{ }\r\n0\r\n\r\n`);
      assert.match(chunked, /^HTTP\/1\.1 503 /u);

      // Routes without a body are not held up by the uploads.
      assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/auth/v1/settings`)).status, 200);
      assert.equal((await scrape()).refused, 2);

      // The uploads end (their clients gone): what they held comes back, and a body is taken again.
      for (const upload of uploads) upload.destroy();
      await heldReaches(0);
      const accepted = await fetch(`http://127.0.0.1:${port}/auth/v1/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'after@example.com', password: 'a passphrase long enough' }),
      });
      assert.equal(accepted.status, 200, await accepted.text());
      await heldReaches(0);
    },
  );

  it(
    'sockets that declare large bodies and send one byte hold one byte each: sign-ups still go through',
    GUARD,
    async () => {
      // Reserving the declared lengths would let these few sockets refuse every body for requestTimeout.
      const uploads = [];
      for (let i = 0; i < 4; i++) uploads.push(await holdUpload(UPLOAD, '{'));
      await heldReaches(4);
      const accepted = await fetch(`http://127.0.0.1:${port}/auth/v1/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'beside@example.com', password: 'a passphrase long enough' }),
      });
      assert.equal(accepted.status, 200, await accepted.text());
      for (const upload of uploads) upload.destroy();
      await heldReaches(0);
    },
  );

  it(
    'a body larger than the whole budget: 413 before it is read, by Content-Length or chunked',
    GUARD,
    async () => {
      const declared = await sendRaw(`${SIGNUP}Content-Length: ${BUDGET + 1}\r\n\r\n{`);
      assert.match(declared, /^HTTP\/1\.1 413 /u);
      assert.match(declared, /\r\nconnection: close\r\n/iu);
      const size = (BUDGET + 1).toString(16);
      const chunked = await sendRaw(
        `${SIGNUP}Transfer-Encoding: chunked\r\n\r\n${size}\r\n${'x'.repeat(BUDGET + 1)}\r\n`,
      );
      assert.match(chunked, /^HTTP\/1\.1 413 /u);
      await heldReaches(0);
    },
  );
});
