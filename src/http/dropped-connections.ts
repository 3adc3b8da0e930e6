import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** The bound on clients a connection was closed for, named as its setting. */
export type DropReason = 'maxConnections' | 'requestTimeout' | 'answerMinRate';

/** Which listener a connection was on: the main port, or the metrics' port of their own. */
export type Listener = 'main' | 'metrics';

/** Told of each connection a bound closed (restauth_http_connections_dropped_total). */
export type ConnectionDropped = (reason: DropReason) => void;

/**
 * Tells `dropped` of each connection `server` closes past `maxConnections` (Node's `drop`) and for
 * `requestTimeout` (headers or body not in within it: Node ends the request with
 * ERR_HTTP_REQUEST_TIMEOUT, answered 408). Those of `answerMinRate` are told by dropStalledReaders.
 * Without a count a flood, a slowloris or a reader that stalls was seen only in the log, if at all.
 * Listening for `clientError` takes Node's own answer away: the server must have another listener
 * that answers (Fastify's, or answerClientError).
 */
export function watchDroppedConnections(server: Server, dropped: ConnectionDropped): void {
  server.on('drop', () => dropped('maxConnections'));
  server.on('clientError', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') dropped('requestTimeout');
  });
}

/** The status line of the answer to a request Node's parser or its bounds refused. */
function statusOf(error: NodeJS.ErrnoException): string {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  if (error.code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  return '400 Bad Request';
}

/**
 * A plain node:http server's `clientError` listener that answers as Node does when nobody listens
 * (408 for requestTimeout, 431, else 400) and closes the connection, as Fastify's does on the
 * main port. Needed once anything else listens for `clientError` (watchDroppedConnections).
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset, or a connection already gone: nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && answering?.headersSent !== true)
    socket.write(`HTTP/1.1 ${statusOf(error)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy(error);
}
