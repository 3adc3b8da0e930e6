import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { resolveJwtSecret } from '../../src/config/secret.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { createTestApp } from '../support/app.js';
import { createAppOnFiles } from '../support/app-on-files.js';

/** An answer as it came on the wire: status, headers (names in lower case), body. */
interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends `text` on a new connection and resolves with the server's answer once it closes the connection. */
function sendRaw(url: string, text: string): Promise<RawAnswer> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    // A server that destroys the connection after its answer may reset it: the answer came first.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    socket.on('close', () => {
      const end = received.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = received.slice(0, end).split('\r\n');
      const headers = new Map(
        lines.map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 1).trim(),
        ]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: received.slice(end + 4) });
    });
  });
}

/** A chunked body whose head may not be the request's body: as `body` is, plain. */
function chunkedBody(body: string): string {
  return body.includes('\r\n') ? body : `${body}\r\n`;
}

/**
 * Requests Node's HTTP parser or its bounds refuse before Fastify sees them, and those Node or
 * Fastify refused on the raw response: their answers carried no `X-Content-Type-Options: nosniff`
 * (Fastify's and Node's clientError answers, Node's 400 for a missing Host and its 417, Fastify's 400
 * for a path it cannot decode), some no `Connection: close`, and one a status Node gives otherwise
 * (Fastify answered a chunk extension flood 400, Node 413). Each kind is sent on a raw socket to
 * the real server, on its main port and on the metrics' port of their own.
 */
describe('answers written outside the reply carry nosniff, a JSON error and Connection: close', () => {
  let server: RunningServer & { metricsUrl: string };
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-outside-reply-'));
    // bodyLimit 1 KiB: a header section past about 25 KiB is then a 431 (header-limit.ts).
    const t = await createTestApp({
      format: 'restauth',
      dir,
      config: { metrics: { enabled: true, port: 0 }, requestTimeout: 1, bodyLimit: 1024 },
    });
    const config = await resolveJwtSecret(
      { ...t.config, port: 0, metrics: { ...t.config.metrics, port: 0 } },
      { warn() {} },
    );
    await t.close();
    server = (await startServer(config, { log: pino({ level: 'silent' }) })) as typeof server;
    assert.ok(server.metricsUrl);
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const HOST = 'Host: localhost\r\n';
  // Node's bound on one chunk's extensions is 16 KiB.
  const CHUNKED = `POST /auth/v1/signup HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const parserRefusals: Array<[string, string, number, string]> = [
    ['a request line that is not HTTP', 'NOT HTTP AT ALL\r\n\r\n', 400, 'validation_failed'],
    [
      'a header name with a space',
      `GET /health HTTP/1.1\r\n${HOST}Bad Name: x\r\n\r\n`,
      400,
      'validation_failed',
    ],
    [
      'a header section past maxHeaderSize',
      `GET /health HTTP/1.1\r\n${HOST}X-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
      431,
      'request_header_fields_too_large',
    ],
    [
      'chunk extensions past Node’s bound',
      `${CHUNKED}1;${'e'.repeat(20 * 1024)}\r\n`,
      413,
      'payload_too_large',
    ],
    ['a chunk size that is not hexadecimal', `${CHUNKED}${chunkedBody('zz')}`, 400, 'validation_failed'],
    [
      'Content-Length beside Transfer-Encoding (request smuggling)',
      `POST /health HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      400,
      'validation_failed',
    ],
    [
      'headers that never end, past requestTimeout',
      `GET /health HTTP/1.1\r\n${HOST}X-Slow: 1`,
      408,
      'request_timeout',
    ],
  ];
  const refusedOnTheResponse: Array<[string, string, number, string]> = [
    ['an HTTP/1.1 request without Host', 'GET /health HTTP/1.1\r\n\r\n', 400, 'validation_failed'],
    [
      'an expectation other than 100-continue',
      `GET /health HTTP/1.1\r\n${HOST}Expect: tea\r\n\r\n`,
      417,
      'expectation_failed',
    ],
  ];
  // A guard, not a timing: without requestTimeout's bound the 408 case waits for Node's 60 s.
  const GUARD = { timeout: 30_000 };

  /** The checks every refusal's answer passes. */
  function assertRefusal(answer: RawAnswer, status: number, code: string, what: string): void {
    assert.equal(answer.status, status, `${what}: ${answer.status} ${answer.body}`);
    assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', what);
    assert.equal(answer.headers.get('connection'), 'close', what);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/u, what);
    const body = JSON.parse(answer.body) as { error?: unknown; message?: unknown };
    assert.equal(body.error, code, what);
    assert.equal(typeof body.message, 'string', what);
  }

  for (const port of ['main', 'metrics'] as const) {
    for (const [what, text, status, code] of [...parserRefusals, ...refusedOnTheResponse]) {
      // The metrics port answers a request (404 but GET /metrics) before reading its body: a body's
      // fault comes after that answer, and nothing may follow its head (answerClientError).
      if (port === 'metrics' && text.startsWith(CHUNKED)) continue;
      it(`${port} port: ${what}: ${status}`, GUARD, async () => {
        const url = port === 'main' ? server.url : server.metricsUrl;
        assertRefusal(await sendRaw(url, text), status, code, what);
      });
    }
  }

  it('main port: a path Fastify cannot decode: 400 in restauth’s shape, with nosniff', async () => {
    const answer = await sendRaw(
      server.url,
      `GET /auth/v1/admin/users/%zz HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
    );
    assertRefusal(answer, 400, 'validation_failed', 'a path that is not percent-encoded');
  });

  it('main port: a GoTrue route without Host is refused in GoTrue’s shape', async () => {
    const answer = await sendRaw(server.url, 'GET /auth/v1/settings HTTP/1.1\r\n\r\n');
    assert.equal(answer.status, 400);
    assert.equal(answer.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(answer.headers.get('connection'), 'close');
    assert.equal((JSON.parse(answer.body) as { error_code?: unknown }).error_code, 'validation_failed');
  });

  it('HTTP/1.0 without Host is still served (only HTTP/1.1 requires it)', async () => {
    const answer = await sendRaw(server.url, 'GET /health HTTP/1.0\r\n\r\n');
    assert.equal(answer.status, 200, answer.body);
  });

  it('the ports keep serving after every refusal', async () => {
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal((await fetch(server.metricsUrl)).status, 200);
  });
});

/**
 * A request on a kept-alive connection while the server closes: Fastify's return503OnClosing wrote
 * its own 503 on the raw response, without nosniff; refuseBeforeHandlers answers it in the reply.
 * The close is held in a preClose hook of the test's while the request is sent: Fastify is closing,
 * and the connection, idle until then, is not closed yet.
 */
describe('a request arriving while the server closes', () => {
  it('503 with nosniff, Connection: close, in the route’s dialect shape', async () => {
    let closingEntered!: () => void;
    const entered = new Promise<void>((resolve) => (closingEntered = resolve));
    let releaseClose!: () => void;
    const released = new Promise<void>((resolve) => (releaseClose = resolve));
    const t = await createAppOnFiles({
      format: 'restauth',
      config: { dialects: { gotrue: {} } },
      log: pino({ level: 'silent' }),
      beforeReady: (app) => {
        app.addHook('preClose', async () => {
          closingEntered();
          await released;
        });
      },
    });
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = t.app.server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      socket.setEncoding('latin1');
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (chunk: string) => (received += chunk));
      const closed = once(socket, 'close');
      await once(socket, 'connect');
      socket.write(`GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      await once(socket, 'data');
      assert.match(received, /^HTTP\/1\.1 200 /u);
      received = '';
      const closing = t.app.close();
      await entered;
      socket.write(`GET /auth/v1/settings HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      await closed;
      releaseClose();
      await closing;
      assert.match(received, /^HTTP\/1\.1 503 /u);
      assert.match(received, /\r\nx-content-type-options: nosniff\r\n/iu);
      assert.match(received, /\r\nconnection: close\r\n/iu);
      const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as { error_code?: unknown };
      assert.equal(body.error_code, 'service_unavailable');
    } finally {
      releaseClose();
      await t.close();
    }
  });
});

/**
 * A json-server middleware (--middlewares) that answers by itself writes on the raw response, past
 * Fastify's onSend hooks (security-headers.ts): its answer carried no nosniff.
 */
describe('an answer a middleware writes by itself', () => {
  it('carries nosniff, and Fastify’s answers after middlewares still do', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'restauth-middleware-'));
    const t = await createTestApp({
      format: 'restauth',
      dir: folder,
      config: { middlewares: [join(folder, 'answers.cjs')], metrics: { enabled: true } },
      files: {
        'answers.cjs':
          "module.exports = (req, res, next) => { if (req.url === '/from-middleware') { res.statusCode = 200; res.end('<p>hi</p>'); } else next(); };",
      },
    });
    try {
      const own = await t.app.inject({ url: '/from-middleware' });
      assert.equal(own.statusCode, 200);
      assert.equal(own.body, '<p>hi</p>');
      assert.equal(own.headers['x-content-type-options'], 'nosniff');
      const passedOn = await t.app.inject({ url: '/health' });
      assert.equal(passedOn.statusCode, 200);
      assert.equal(passedOn.headers['x-content-type-options'], 'nosniff');
      // The middleware's answer ended its request: only the scrape itself is in flight. Counted for
      // ever, it held every close for SHUTDOWN_GRACE_MS.
      const scrape = await t.app.inject({ url: '/metrics' });
      assert.match(scrape.body, /^restauth_http_requests_in_flight 1$/mu);
    } finally {
      await t.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
