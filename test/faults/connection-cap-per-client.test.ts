import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { linesLogger } from '../support/log-lines.js';
import { droppedConnections } from '../support/metric-samples.js';

/**
 * One client holding every connection slot: under maxConnections alone, one address opening idle
 * sockets (and reopening each as its requestTimeout let it go) held all of them, and every other
 * client was closed unanswered. Each client (an IPv4 address, an IPv6 /64) now holds at most
 * maxConnectionsPerClient: one more of its is closed as it arrives, while another address is served.
 * The proxies listed in trustProxy are not bounded so (their connections carry many clients), nor is
 * anyone when trustProxy is a number of hops. Real sockets from 127.0.0.1 and 127.0.0.2.
 */
const PER_CLIENT = 5;

async function appWith(
  config: Record<string, unknown>,
  lines: string[] = [],
): Promise<{ t: TestApp; port: number }> {
  const t = await createTestApp({
    format: 'restauth',
    config: {
      maxConnections: 50,
      maxConnectionsPerClient: PER_CLIENT,
      metrics: { enabled: true },
      ...config,
    },
    log: linesLogger('warn', lines),
  });
  await t.app.listen({ port: 0, host: '0.0.0.0' });
  return { t, port: (t.app.server.address() as AddressInfo).port };
}

/** An idle connection from `from`, once the server accepted it (or closed it at once); `closed`: what it answered. */
async function idleFrom(
  t: TestApp,
  port: number,
  from: string,
): Promise<{ socket: Socket; closed: Promise<string> }> {
  const accepted = once(t.app.server, 'connection');
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => received);
  await once(socket, 'connect');
  await accepted;
  return { socket, closed };
}

/** GET /health from `from` on a connection of its own: the status, or the error that ended it. */
function healthFrom(port: number, from: string): Promise<number | string> {
  return new Promise((resolve) => {
    const asked = request(
      { port, host: '127.0.0.1', localAddress: from, path: '/health', agent: false },
      (answer) => {
        answer.resume();
        resolve(answer.statusCode ?? 0);
      },
    );
    asked.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    asked.end();
  });
}

describe('connections of one client', { timeout: 30_000 }, () => {
  const apps: TestApp[] = [];
  const sockets: Socket[] = [];
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(apps.map((t) => t.close()));
  });

  it('one more than maxConnectionsPerClient from one address is closed; another address is served', async () => {
    const lines: string[] = [];
    const { t, port } = await appWith({}, lines);
    apps.push(t);
    const held: Socket[] = [];
    for (let i = 0; i < PER_CLIENT; i++) held.push((await idleFrom(t, port, '127.0.0.1')).socket);
    sockets.push(...held);

    const excess = await idleFrom(t, port, '127.0.0.1');
    assert.equal(await excess.closed, '', 'closed without an answer');
    const again = await idleFrom(t, port, '127.0.0.1');
    assert.equal(await again.closed, '', 'the same address is refused again');
    assert.equal(await healthFrom(port, '127.0.0.2'), 200, 'another address is served');
    assert.ok(
      lines.some((line) => line.includes('(maxConnectionsPerClient)')),
      'said in the log',
    );

    const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(droppedConnections(scrape.body, 'main').maxConnectionsPerClient, 2);

    // Its connections closed, the address is served again.
    for (const socket of held) {
      const gone = once(socket, 'close');
      socket.destroy();
      await gone;
    }
    const freed = new Promise<void>((resolve, reject) => {
      const poll = () =>
        t.app.server.getConnections((error, count) =>
          error ? reject(error) : count === 0 ? resolve() : setImmediate(poll),
        );
      poll();
    });
    await freed;
    assert.equal(await healthFrom(port, '127.0.0.1'), 200);
  });

  it('a proxy listed in trustProxy is not bounded so; with a number of hops nobody is', async () => {
    for (const trustProxy of [['127.0.0.1'], 1]) {
      const { t, port } = await appWith({ trustProxy });
      apps.push(t);
      for (let i = 0; i <= PER_CLIENT; i++) sockets.push((await idleFrom(t, port, '127.0.0.1')).socket);
      assert.equal(await healthFrom(port, '127.0.0.1'), 200, `trustProxy ${JSON.stringify(trustProxy)}`);
    }
  });
});
