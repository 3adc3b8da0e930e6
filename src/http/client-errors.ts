import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * One refusal written before any route is known: its status line and restauth's error body. Codes of
 * the registry where one fits (validation_failed, payload_too_large); the others name the HTTP status,
 * which no dialect's route ever answers.
 */
interface Refusal {
  status: number;
  reason: string;
  error: string;
  message: string;
}

const BAD_REQUEST: Refusal = {
  status: 400,
  reason: 'Bad Request',
  error: 'validation_failed',
  message: 'The request is not valid HTTP',
};

/**
 * Node's parser errors and bounds, answered as Node answers them when nobody listens for
 * `clientError` (_http_server.js socketOnError): 408 for requestTimeout, 431 for a header section
 * past maxHeaderSize, 413 for chunk extensions past Node's bound, 400 for the rest (a malformed
 * request line, header or chunk, a Content-Length beside a Transfer-Encoding).
 */
const REFUSALS: Readonly<Record<string, Refusal>> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    error: 'request_timeout',
    message: 'The request was not received within requestTimeout',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    error: 'request_header_fields_too_large',
    message: 'The request line and headers are too large',
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    reason: 'Payload Too Large',
    error: 'payload_too_large',
    message: 'The chunk extensions of the request body are too large',
  },
};

/** Headers of every answer written outside Fastify's reply (security-headers.ts for those inside it). */
export const OUTSIDE_REPLY_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  Connection: 'close',
} as const;

/** restauth's own error body (errors.ts restauthErrorFormat): no route, so no dialect, is known yet. */
function bodyOf({ error, message }: Refusal): string {
  return JSON.stringify({ error, message });
}

/** The whole answer to `refusal` as bytes for the socket: the connection is closed after it. */
function answerOf(refusal: Refusal, headers: Readonly<Record<string, string>> = {}): Buffer {
  const body = bodyOf(refusal);
  const head = [
    `HTTP/1.1 ${refusal.status} ${refusal.reason}`,
    ...Object.entries({ ...OUTSIDE_REPLY_HEADERS, ...headers }).map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

const ANSWERS = new Map(Object.entries(REFUSALS).map(([code, refusal]) => [code, answerOf(refusal)]));
const BAD_REQUEST_ANSWER = answerOf(BAD_REQUEST);

/**
 * Seconds a client cut for requestHeaderBudget is told to wait (Retry-After), as for the body
 * budget: the header sections being received are a few seconds' worth at most for clients at speed.
 */
const HEADER_BUDGET_RETRY_AFTER_S = 5;

/** A header section cut for requestHeaderBudget (header-budget.ts): the server is busy, the request may be fine. */
const OVER_HEADER_BUDGET_ANSWER = answerOf(
  {
    status: 503,
    reason: 'Service Unavailable',
    error: 'over_capacity',
    message: 'Too many request headers are being received; retry shortly',
  },
  { 'Retry-After': String(HEADER_BUDGET_RETRY_AFTER_S) },
);

/**
 * Writes `answer` and closes the connection. Nothing is written when the connection is gone, or when
 * an answer on it has begun (a pipelined request's): bytes after its head would corrupt it, as Node
 * guards too; the connection is closed either way.
 */
function closeWith(socket: Duplex, answer: Buffer, error?: Error): void {
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && answering?.headersSent !== true) socket.write(answer);
  socket.destroy(error);
}

/**
 * The `clientError` answer of both ports (Fastify's clientErrorHandler on the main one): what Node's
 * parser or its bounds refused, before any route saw it. Node's own answer, and Fastify's default,
 * carried no nosniff, Fastify's no `Connection: close` either (the connection is closed all the
 * same), and Fastify's answered a chunk extension flood 400 where Node says 413.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset, or a connection already gone: nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  closeWith(socket, (error.code !== undefined && ANSWERS.get(error.code)) || BAD_REQUEST_ANSWER, error);
}

/** Answers 503 with Retry-After on a connection whose unfinished header section is cut (header-budget.ts), and closes it. */
export function refuseOverHeaderBudget(socket: Duplex): void {
  if (!socket.destroyed) closeWith(socket, OVER_HEADER_BUDGET_ANSWER);
}

/**
 * The server's `checkExpectation` listener: an `Expect` other than 100-continue, which HTTP/1.1
 * servers refuse 417 (RFC 9110 10.1.1). Node's own 417 carried no nosniff and kept the connection,
 * whose client then sent the body the server never read as its next request.
 */
export function refuseExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const body = bodyOf({
    status: 417,
    reason: 'Expectation Failed',
    error: 'expectation_failed',
    message: 'Only the expectation 100-continue is supported',
  });
  response.writeHead(417, { ...OUTSIDE_REPLY_HEADERS, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}
