import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

/**
 * A local HTTP server that answers every request at once, closed after the test file: what a test of
 * "the event loop is not held" asks a request of while the work under test runs. `request()` sends
 * one and resolves once its answer is read.
 */
export async function answeringServer(): Promise<{ request: () => Promise<void> }> {
  const server = createServer((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const request = () =>
    new Promise<void>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/' }, (response) => {
        response.resume();
        response.on('end', resolve);
      }).on('error', reject);
    });
  return { request };
}
