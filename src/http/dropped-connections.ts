import type { Server } from 'node:http';

/** The bound on clients a connection was closed for, named as its setting. */
export type DropReason =
  'maxConnections' | 'maxConnectionsPerClient' | 'requestTimeout' | 'answerMinRate' | 'requestHeaderBudget';

/** Which listener a connection was on: the main port, or the metrics' port of their own. */
export type Listener = 'main' | 'metrics';

/** Told of each connection a bound closed (restauth_http_connections_dropped_total). */
export type ConnectionDropped = (reason: DropReason) => void;

/**
 * Tells `dropped` of each connection `server` closes past `maxConnections` (Node's `drop`) and for
 * `requestTimeout` (headers or body not in within it: Node ends the request with
 * ERR_HTTP_REQUEST_TIMEOUT, answered 408). Those of `answerMinRate` are told by dropStalledReaders,
 * those of `requestHeaderBudget` by boundUnfinishedHeaders.
 * Without a count a flood, a slowloris or a reader that stalls was seen only in the log, if at all.
 * Listening for `clientError` takes Node's own answer away: the server must have another listener
 * that answers (client-errors.ts answerClientError, on both ports).
 */
export function watchDroppedConnections(server: Server, dropped: ConnectionDropped): void {
  server.on('drop', () => dropped('maxConnections'));
  server.on('clientError', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') dropped('requestTimeout');
  });
}
