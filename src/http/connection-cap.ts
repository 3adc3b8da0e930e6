import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { rateLimitBucket } from '../core/client-bucket.js';

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
  const refused = onceAMinute(
    warn,
    (count) =>
      `${max} connections open (maxConnections): ${count} more closed unanswered since the last warning`,
  );
  server.on('drop', () => refused(''));
}

/**
 * Counts refusals and says them through `warn` at most once a minute, with how many there were since
 * the last time; `key` (the client refused, or nothing) only goes into the message.
 */
export function onceAMinute(
  warn: (message: string) => void,
  message: (count: number, key: string) => string,
): (key: string) => void {
  let lastWarning = -Infinity;
  let count = 0;
  return (key) => {
    count++;
    const now = performance.now();
    if (now - lastWarning < WARN_EVERY_MS) return;
    lastWarning = now;
    warn(message(count, key));
    count = 0;
  };
}

/**
 * Holds at most `max` connections of one client (its rate-limit bucket: an IPv4 address, an IPv6
 * /64) open at once: one more is closed as it is accepted, and `dropped` told. maxConnections alone
 * let one address hold every slot, reopening its idle sockets as each requestTimeout let them go,
 * and shut every other client out. `exempt` addresses (the reverse proxies restauth trusts, whose
 * connections carry many clients) are not counted. Each flood is said once a minute.
 */
export function capConnectionsPerClient(
  server: Server,
  max: number,
  exempt: (address: string) => boolean,
  warn: (message: string) => void,
  dropped: () => void = () => {},
): void {
  const open = new Map<string, number>();
  const refused = onceAMinute(
    warn,
    (count, bucket) =>
      `${bucket} holds ${max} connections (maxConnectionsPerClient): ${count} more of its closed unanswered since the last warning`,
  );
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || exempt(address)) return;
    const bucket = rateLimitBucket(address);
    const held = open.get(bucket) ?? 0;
    if (held >= max) {
      socket.destroy();
      dropped();
      refused(bucket);
      return;
    }
    open.set(bucket, held + 1);
    socket.once('close', () => {
      const left = (open.get(bucket) ?? 1) - 1;
      if (left === 0) open.delete(bucket);
      else open.set(bucket, left);
    });
  });
}
