import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Where a connection's answer stood at the start of its window: bytes sent, and when. */
interface Window {
  sent: number;
  since: number;
}

/**
 * Bytes of the socket's output the kernel has taken so far: those handed to libuv, less libuv's own
 * queue (writeQueueSize, which Node's streams read too), which shrinks as the client reads.
 * writableLength moves only when a whole chunk is written (an answer is often one chunk), and
 * bytesWritten counts what is queued, sent or not.
 */
export function bytesTaken(socket: Socket): number {
  const internals = socket as Socket & {
    _bytesDispatched?: number;
    _handle?: { writeQueueSize?: number } | null;
  };
  return (internals._bytesDispatched ?? 0) - (internals._handle?.writeQueueSize ?? 0);
}

export interface StalledReaderOptions {
  /** Bytes a second an answer waiting in memory must leave at, over each window of `boundMs` (0: any progress). */
  minRate: number;
  /** Milliseconds, monotonic (default performance.now; tests step it). */
  now?: () => number;
  /** Runs `look` every `everyMs` until the returned function is called (default setInterval, unref'd). */
  schedule?: (look: () => void, everyMs: number) => () => void;
  /** Told of each connection let go (restauth_http_connections_dropped_total). */
  dropped?: () => void;
}

function everyInterval(look: () => void, everyMs: number): () => void {
  const timer = setInterval(look, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Ends the connections whose client stopped reading its answer, or reads it too slowly: bytes wait
 * in the server's memory (the kernel's buffers are full) and, over `boundMs`, fewer than
 * `minRate` bytes a second of them left (none, with minRate 0). Node bounds the request
 * (requestTimeout) but not the answer: a client that asked for a large collection and never read
 * it held the whole answer in memory, and its connection, for as long as it stayed connected (TCP
 * keeps a peer that acknowledges with a zero window alive for ever), and one taking 1 KB every 20 s
 * did the same, since any progress counted; a few hundred such clients could exhaust the server's
 * memory. Only a waiting answer is measured: a small one the kernel takes at once never is, nor is
 * a client between requests. Looked at every quarter of the bound, as Node looks for expired
 * requests; nothing is done per request. Returns the function that stops looking (at close).
 */
export function dropStalledReaders(
  server: Server,
  boundMs: number,
  options: StalledReaderOptions,
): () => void {
  const now = options.now ?? (() => performance.now());
  const connections = new Map<Socket, Window>();
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { sent: 0, since: now() });
    socket.once('close', () => connections.delete(socket));
  });
  const look = () => {
    const at = now();
    for (const [socket, window] of connections) {
      const sent = bytesTaken(socket);
      if (socket.writableLength === 0) {
        // Nothing waits in memory: the window starts when something does.
        Object.assign(window, { sent, since: at });
        continue;
      }
      const elapsed = at - window.since;
      if (elapsed < boundMs) continue;
      const left = sent - window.sent;
      if (left === 0 || left < (options.minRate * elapsed) / 1000) {
        socket.destroy();
        options.dropped?.();
      } else Object.assign(window, { sent, since: at });
    }
  };
  return (options.schedule ?? everyInterval)(look, Math.min(30_000, boundMs / 4));
}
