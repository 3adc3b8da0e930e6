import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { onFreePort } from '../support/free-port.js';

const listenOn = (server: Server, port: number) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

/** The window between choosing a port and binding it: another process takes it, and the start is retried. */
describe('onFreePort', () => {
  const servers: Server[] = [];
  after(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  it('starts again on another port when the chosen one was taken before it was bound', async () => {
    const tried: number[] = [];
    const port = await onFreePort(async (chosen) => {
      tried.push(chosen);
      // The first time, someone else binds the chosen port first (as another test process may).
      if (tried.length === 1) {
        const intruder = createServer();
        servers.push(intruder);
        await listenOn(intruder, chosen);
      }
      const server = createServer();
      await listenOn(server, chosen);
      servers.push(server);
      return chosen;
    });
    assert.equal(tried.length, 2);
    assert.equal(port, tried[1]);
  });

  it('gives up with the error that is not a taken port', async () => {
    await assert.rejects(
      onFreePort(() => Promise.reject(new Error('no'))),
      /no/u,
    );
  });
});
