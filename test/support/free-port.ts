import { createServer } from 'node:net';

/** A TCP port nobody listens on right now (tests and benchmarks start servers on it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts something on a port chosen before it binds (a configuration must name it first). Another
 * process may take that port in between: on EADDRINUSE `start` (which cleans up after itself) is
 * run again on another free port, a few times.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (attempt >= attempts || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
}

/**
 * A TCP port on which a connection to 127.0.0.1 is refused for the whole run: the kernel never hands a
 * port below 1024 to a bind on port 0, and every test server gets its port that way, so none can take it.
 * A port freePort() just released is not that: another process may bind it before the connection.
 */
export const REFUSED_PORT = 1;
