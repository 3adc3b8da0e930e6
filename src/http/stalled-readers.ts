import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Where a connection's answer stood at the last look: bytes queued and bytes left, and since when. */
interface Progress {
  queued: number;
  left: number;
  since: number;
}

/**
 * Bytes of the socket's answer not yet taken by the kernel. writableLength alone moves only when a
 * whole chunk is written (an answer is often one chunk); libuv's own queue (writeQueueSize, which
 * Node's streams read too) shrinks as the client reads.
 */
function bytesLeft(socket: Socket): number {
  const handle = (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle;
  return socket.writableLength + (handle?.writeQueueSize ?? 0);
}

/**
 * Ends the connections whose client stopped reading its answer: bytes wait in the server's memory
 * (the kernel's buffers are full) and none has left for `boundMs`. Node bounds the request
 * (requestTimeout) but not the answer: a client that asked for a large collection and never read it
 * held the whole answer in memory, and its connection, for as long as it stayed connected (TCP
 * keeps a peer that acknowledges with a zero window alive for ever), so a few hundred such clients
 * could exhaust the server's memory. A client reading slowly makes progress and is not cut. Looked
 * at every quarter of the bound, as Node looks for expired requests; nothing is done per request.
 * Returns the function that stops looking (at close).
 */
export function dropStalledReaders(server: Server, boundMs: number): () => void {
  const connections = new Map<Socket, Progress>();
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { queued: 0, left: 0, since: performance.now() });
    socket.once('close', () => connections.delete(socket));
  });
  const look = () => {
    const now = performance.now();
    for (const [socket, progress] of connections) {
      const left = bytesLeft(socket);
      // bytesWritten counts what was queued (a new answer too), sent or not.
      const queued = socket.bytesWritten;
      if (socket.writableLength === 0 || left !== progress.left || queued !== progress.queued) {
        Object.assign(progress, { queued, left, since: now });
      } else if (now - progress.since >= boundMs) {
        socket.destroy();
      }
    }
  };
  const timer = setInterval(look, Math.min(30_000, boundMs / 4));
  timer.unref();
  return () => clearInterval(timer);
}
