import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Milliseconds between two looks at the connections: how long unfinished header sections may grow
 * past the budget before they are cut. Only while connections are open; an idle server sets no timer.
 */
const HEADER_SWEEP_EVERY_MS = 250;

/**
 * The most bytes one read of a socket hands Node's HTTP parser (libuv reads 64 KiB at a time). When a
 * request's headers are complete, every byte read before the chunk being parsed belongs to that
 * request or earlier ones, never to the next header section.
 */
const ONE_READ_BYTES = 64 * 1024;

/** Node's parser of a connection (socket.parser, set by Node's HTTP server, gone once it is closed). */
interface Parser {
  /**
   * False from a request's first byte (or the connection's start) until its header section is
   * complete (node_http_parser.cc, Node 20 and 22). Not public API: without it nothing would be cut,
   * which test/security/header-bytes-budget.test.ts would show.
   */
  headersCompleted?: () => boolean;
}

/** A connection watched: `mark` is a byte count read at or before the start of its current header section. */
interface Watched {
  mark: number;
}

export interface HeaderBudgetOptions {
  /** Answers a connection cut for the budget, and closes it. */
  refuse: (socket: Socket) => void;
  /** Told of each connection cut (restauth_http_connections_dropped_total). */
  dropped?: () => void;
}

/** Runs `look` every HEADER_SWEEP_EVERY_MS until the returned function is called; never keeps the process up. */
function everyInterval(look: () => void): () => void {
  const timer = setInterval(look, HEADER_SWEEP_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** True while `socket`'s parser has begun a request whose header section is not complete yet. */
function inHeaderSection(socket: Socket): boolean {
  const parser = (socket as Socket & { parser?: Parser | null }).parser;
  return parser?.headersCompleted?.() === false;
}

/**
 * Bounds the bytes of unfinished request header sections held at once across `server` to `budget`
 * (requestHeaderBudget). maxHeaderSize (header-limit.ts: about 295 KB, room for large access tokens)
 * bounds one section, but a section sent slowly and never finished is held in the parser until
 * requestTimeout, and maxConnections of them held 10,000 times it (2.9 GB): 400 connections of
 * 280 KB raised the server's RSS by 110 MB. Looked at every HEADER_SWEEP_EVERY_MS: when the sections
 * in progress hold more than the budget, the connections holding the most are answered 503 and
 * closed until the rest fit, so many small slow clients outlast one large one.
 *
 * Node's server feeds the socket's handle to its parser directly ('data' is never emitted), so a
 * section is measured as the socket's bytesRead (the handle's count) less a mark taken where the
 * section cannot have begun yet: at the connection (0), at each look that finds no section in
 * progress (everything read was parsed and belongs to finished requests or a body), and when a
 * request's headers complete (less one read, which may hold the next section's start). A section
 * may be counted a little over (the tail of a body, one read), never under. Headers that come whole
 * in one read are parsed as they arrive and are never seen in progress: ordinary, keep-alive and
 * pipelined requests spend nothing. Looked at only while connections are open. Returns the function
 * that stops looking (at close).
 */
export function boundUnfinishedHeaders(
  server: Server,
  budget: number,
  options: HeaderBudgetOptions,
): () => void {
  const connections = new Map<Socket, Watched>();
  let stopLooking: (() => void) | null = null;

  /** Bytes of `socket`'s header section in progress (0: none); with none, what was read is marked. */
  const sectionBytes = (socket: Socket, watched: Watched): number => {
    const read = socket.bytesRead;
    if (read === watched.mark) return 0;
    if (inHeaderSection(socket)) return read - watched.mark;
    watched.mark = read;
    return 0;
  };
  const look = () => {
    let held = 0;
    for (const [socket, watched] of connections) held += sectionBytes(socket, watched);
    if (held <= budget) return;
    // Past the budget (rare): measured again, nothing read in between, and cut from the largest.
    const holding = [...connections]
      .map(([socket, watched]) => ({ socket, bytes: sectionBytes(socket, watched) }))
      .filter(({ bytes }) => bytes > 0)
      .sort((a, b) => b.bytes - a.bytes);
    for (const { socket, bytes } of holding) {
      if (held <= budget) break;
      held -= bytes;
      connections.delete(socket);
      options.refuse(socket);
      options.dropped?.();
    }
  };

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { mark: 0 });
    stopLooking ??= everyInterval(look);
    socket.once('close', () => {
      connections.delete(socket);
      if (connections.size === 0 && stopLooking) {
        stopLooking();
        stopLooking = null;
      }
    });
  });
  // Emitted while the parser runs through the read that completed the headers.
  server.on('request', (request: { socket: Socket }) => {
    const watched = connections.get(request.socket);
    if (watched) watched.mark = Math.max(watched.mark, request.socket.bytesRead - ONE_READ_BYTES);
  });
  return () => {
    stopLooking?.();
    stopLooking = null;
  };
}
