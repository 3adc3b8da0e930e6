import type { Server } from 'node:http';

/** Milliseconds between two warnings that the cap refuses connections: a flood is said, not logged per socket. */
const WARN_EVERY_MS = 60_000;

/**
 * Holds at most `max` connections open at once (Node's server.maxConnections: a connection past it
 * is closed as it is accepted, and the server emits `drop`). Without a cap a client opening
 * thousands of idle sockets held a file descriptor and a parser for each, and the requests of
 * everyone else competed with them; with it, what such a client holds is bounded, and each of its
 * sockets still goes at requestTimeout (an idle one is answered 408). Each flood is said once a minute.
 */
export function capConnections(server: Server, max: number, warn: (message: string) => void): void {
  server.maxConnections = max;
  let lastWarning = -Infinity;
  let dropped = 0;
  server.on('drop', () => {
    dropped++;
    const now = performance.now();
    if (now - lastWarning < WARN_EVERY_MS) return;
    lastWarning = now;
    warn(
      `${max} connections open (maxConnections): ${dropped} more closed unanswered since the last warning`,
    );
    dropped = 0;
  });
}
