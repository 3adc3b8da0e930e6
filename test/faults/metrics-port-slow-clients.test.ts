import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { resolveJwtSecret } from '../../src/config/secret.js';
import { listenMetrics } from '../../src/http/metrics.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createTestApp } from '../support/app.js';
import { linesLogger } from '../support/log-lines.js';
import { droppedConnections } from '../support/metric-samples.js';

/** A connection to the metrics port that sends nothing, once connected; `closed` as stall's (a reset is ''). */
async function idle(metricsUrl: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  const { port, hostname } = new URL(metricsUrl);
  const socket = connect(Number(port), hostname);
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  // A connection the server closes as it accepts it may be reset: that is its answer too.
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => received);
  await once(socket, 'connect');
  return { socket, closed };
}

/** Every server's directory, from every describe. */
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The real server, as serve starts it, with its metrics on a port of their own. */
async function start(
  requestTimeout: number,
  settings: Record<string, unknown> = {},
  log = pino({ level: 'silent' }),
): Promise<RunningServer & { metricsUrl: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-metrics-slow-'));
  dirs.push(dir);
  // The test app writes the config and data files; the server is then started on them as serve would.
  const t = await createTestApp({
    format: 'restauth',
    dir,
    config: { metrics: { enabled: true, port: 0 }, requestTimeout, ...settings },
  });
  const config = await resolveJwtSecret(
    { ...t.config, port: 0, metrics: { ...t.config.metrics, port: 0 } },
    { warn() {} },
  );
  await t.close();
  const server = await startServer(config, { log });
  assert.ok(server.metricsUrl);
  return server as RunningServer & { metricsUrl: string };
}

/**
 * The metrics' port of their own (metrics.port) is a plain node:http server beside Fastify's: it
 * had Node's defaults (headers within 60 s, a request within 300 s), not `requestTimeout`, and a
 * stop waited for a client that had not sent its request. Slowloris there: the bound is the main
 * port's, and the graceful stop lets such clients go at once. The real server, as serve starts it.
 */
describe('slow clients on the metrics port', () => {
  /** Connects to the metrics port and sends `text` and nothing more. */
  function stall(metricsUrl: string, text: string): { socket: Socket; closed: Promise<string> } {
    const { port, hostname } = new URL(metricsUrl);
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const closed = new Promise<string>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
    return { socket, closed };
  }

  // Guards, not timings: without the bound Node cuts headers after 60 s at the earliest, and a stop
  // waited as long; the test fails here first. As high as that allows: the guard also covers the
  // server's start, which a slow, loaded machine can take many seconds for.
  const GUARD = { timeout: 55_000 };

  it('headers that never end: 408 within requestTimeout, the connection closed', GUARD, async () => {
    const server = await start(1);
    try {
      const { closed } = stall(server.metricsUrl, 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1');
      assert.match(await closed, /^HTTP\/1\.1 408 /u);
      // The port still serves others, and counts the drop as the port's own.
      const scrape = await fetch(server.metricsUrl);
      assert.equal(scrape.status, 200);
      assert.deepEqual(droppedConnections(await scrape.text(), 'metrics'), {
        maxConnections: 0,
        maxConnectionsPerClient: 0,
        requestTimeout: 1,
        answerMinRate: 0,
        requestHeaderBudget: 0,
      });
      // The port answers the parser's refusals itself now that it listens for them (answerClientError),
      // as Node did (a request that is not HTTP: 400), and does not count them as dropped.
      assert.match(await stall(server.metricsUrl, 'NOT HTTP\r\n\r\n').closed, /^HTTP\/1\.1 400 /u);
      const after = await (await fetch(server.metricsUrl)).text();
      assert.equal(droppedConnections(after, 'metrics').requestTimeout, 1);
    } finally {
      await server.close();
    }
  });

  it('a stop does not wait for a client that has not sent its request', GUARD, async () => {
    const server = await start(600);
    const { socket, closed } = stall(server.metricsUrl, 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n');
    try {
      // The request is under way: answered once the stalled client's connection is accepted.
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      assert.equal((await fetch(server.metricsUrl)).status, 200);
      await server.close();
      assert.equal(await closed, '', 'cut without an answer');
    } finally {
      socket.destroy();
    }
  });
});

/**
 * A scraper keeping its connection between scrapes: the metrics port closed it after Node's own 5 s
 * (and said `Keep-Alive: timeout=5`), not the main port's `keepAliveTimeout` (72 s by default, above
 * a load balancer's or a scraper's interval). 1 s here, with requestTimeout 600 s so that nothing
 * else can end the idle connection: the answer names the setting, and the server closes the
 * connection once it is idle for it. Without the setting the answer says 5 and the test fails there.
 */
describe('a keep-alive scraper idle on the metrics port', () => {
  it('is told keepAliveTimeout and let go after it', { timeout: 30_000 }, async () => {
    const server = await start(600, { keepAliveTimeout: 1 });
    try {
      const { socket, closed } = await idle(server.metricsUrl);
      socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const answer = await closed;
      assert.match(answer, /^HTTP\/1\.1 200 /u);
      assert.match(answer, /\r\nKeep-Alive: timeout=1\r\n/iu);
    } finally {
      await server.close();
    }
  });
});

/**
 * Thousands of idle sockets on the metrics port were each held until requestTimeout (a file
 * descriptor and a parser apiece, nothing bounding how many): the port has the main port's cap,
 * `maxConnections` (counted apart from the main port's). 3 here; requestTimeout 600 s, so the held
 * ones stay while the test runs. The kernel hands connections over in the order they came, so the
 * fourth is the one past the cap. Without the cap it is held, unanswered, and the test fails at its guard.
 */
describe('more connections than maxConnections on the metrics port', () => {
  const CAP = 3;
  it('closes the excess unanswered, says so, serves the held ones', { timeout: 30_000 }, async () => {
    const lines: string[] = [];
    const server = await start(600, { maxConnections: CAP }, linesLogger('warn', lines));
    try {
      const held = [];
      for (let i = 0; i < CAP; i++) held.push(await idle(server.metricsUrl));
      const excess = await idle(server.metricsUrl);
      assert.equal(await excess.closed, '', 'closed without an answer');
      assert.ok(
        lines.some((line) => line.includes('(maxConnections)')),
        'the refusal is said in the log',
      );
      // The held ones are still served, and the excess counted (HTTP/1.0: the body as it is, not chunked).
      held[0]!.socket.write('GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n');
      const answer = await held[0]!.closed;
      assert.match(answer, /^HTTP\/1\.1 200 /u);
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      assert.equal(droppedConnections(body, 'metrics').maxConnections, 1);
    } finally {
      await server.close();
    }
  });
});

/**
 * Scrapes pipelined on one connection and never read: the kernel's buffers fill and the rest of the
 * answers wait in restauth's memory for as long as the client stays connected (every request is
 * whole, so requestTimeout does not apply). The port lets such a client go, as the main port does,
 * once requestTimeout (1 s here) passes with none of its answer leaving. The metrics hold many
 * series (a large scrape, as a busy server's), so a hundred scrapes fill the buffers. Without
 * the bound the server's socket never closes and the test fails at its guard.
 */
describe('pipelined scrapes never read on the metrics port', () => {
  it('are let go after requestTimeout', { timeout: 30_000 }, async () => {
    const metrics = new Metrics();
    for (let route = 0; route < 200; route++) metrics.observeRequest('GET', `/route/${route}`, 200, 0.01);
    const bounds = {
      requestTimeout: 1,
      keepAliveTimeout: 5,
      maxConnections: 10,
      answerMinRate: 1024,
      requestHeaderBudget: 33554432,
      warn() {},
    };
    const served = await listenMetrics(metrics, '127.0.0.1', 0, bounds);
    try {
      // 32 MB of answers: more than loopback's buffers take, on both ends.
      const { body } = await metrics.scrape();
      const scrapes = Math.ceil((32 << 20) / body.length);
      const accepted = once(served.server, 'connection') as Promise<[Socket]>;
      const client = connect(Number(new URL(served.url).port), '127.0.0.1');
      client.on('error', () => {});
      const [socket] = await accepted;
      client.pause();
      client.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(scrapes));
      await once(socket, 'close');
      client.destroy();
      assert.equal(socket.writableLength, 0, 'the waiting answers are dropped');
      assert.equal(droppedConnections((await metrics.scrape()).body, 'metrics').answerMinRate, 1);
      assert.equal((await fetch(served.url)).status, 200, 'others are served');
    } finally {
      await served.close();
    }
  });
});
