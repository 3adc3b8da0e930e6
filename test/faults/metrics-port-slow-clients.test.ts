import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { resolveJwtSecret } from '../../src/config/secret.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { createTestApp } from '../support/app.js';

/**
 * The metrics' port of their own (metrics.port) is a plain node:http server beside Fastify's: it
 * had Node's defaults (headers within 60 s, a request within 300 s), not `requestTimeout`, and a
 * stop waited for a client that had not sent its request. Slowloris there: the bound is the main
 * port's, and the graceful stop lets such clients go at once. The real server, as serve starts it.
 */
describe('slow clients on the metrics port', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function start(requestTimeout: number): Promise<RunningServer & { metricsUrl: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-metrics-slow-'));
    dirs.push(dir);
    // The test app writes the config and data files; the server is then started on them as serve would.
    const t = await createTestApp({
      format: 'restauth',
      dir,
      config: { metrics: { enabled: true, port: 0 }, requestTimeout },
    });
    const config = await resolveJwtSecret(
      { ...t.config, port: 0, metrics: { ...t.config.metrics, port: 0 } },
      { warn() {} },
    );
    await t.close();
    const server = await startServer(config, { log: pino({ level: 'silent' }) });
    assert.ok(server.metricsUrl);
    return server as RunningServer & { metricsUrl: string };
  }

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
      // The port still serves others.
      assert.equal((await fetch(server.metricsUrl)).status, 200);
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
