import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics/metrics.js';
import { capConnections } from './connection-cap.js';
import {
  answerClientError,
  OUTSIDE_REPLY_HEADERS,
  refuseExpectation,
  refuseOverHeaderBudget,
} from './client-errors.js';
import { boundUnfinishedHeaders } from './header-budget.js';
import { watchDroppedConnections } from './dropped-connections.js';
import { documentRoutes } from './route-docs.js';
import { dropStalledReaders } from './stalled-readers.js';

/**
 * Counts every answered request (method, route pattern, status, latency),
 * and serves `GET /metrics` on the app unless the metrics have a port of
 * their own. Added to the root instance, so every dialect's routes are seen.
 */
export function observeRequests(app: FastifyInstance, metrics: Metrics, serveHere: boolean): void {
  app.addHook('onResponse', (request, reply, done) => {
    // The pattern (/admin/users/:id, /*), never the URL: ids and tokens would make a series each.
    metrics.observeRequest(
      request.method,
      request.routeOptions.url ?? null,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  if (!serveHere) return;
  documentRoutes(app, 'operations', {
    'GET /metrics': {
      summary: 'Prometheus metrics (when metrics.enabled; not here when they have a port of their own)',
      response: {
        200: Type.String({ contentMediaType: 'text/plain', description: "Prometheus' text format" }),
      },
    },
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.type(contentType).send(body);
  });
}

export interface MetricsServer {
  url: string;
  /** The node:http server itself (a test awaits its connections' ends). */
  server: Server;
  close(): Promise<void>;
}

/** The main port's bounds on its clients (settings of the same names), applied to the metrics' port too. */
export interface MetricsPortBounds {
  requestTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  answerMinRate: number;
  requestHeaderBudget: number;
  /** Where a refused flood is said (capConnections). */
  warn: (message: string) => void;
}

/**
 * `GET /metrics` alone, on a port of its own (metrics.port): nothing else is served there. Every
 * connection is bounded as on the main port (see app.ts): `requestTimeout` seconds for the request,
 * headers and body (Node's own defaults let a client that stalls its headers hold a connection for
 * 60 s and its body for 300 s), at most `maxConnections` held at once (counted apart from the main
 * port's), and an answer left unread, or read slower than `answerMinRate`, let go after
 * `requestTimeout`; unfinished header sections share `requestHeaderBudget` (counted apart from the
 * main port's). Without the bounds on connections and answers, thousands of idle sockets, or pipelined scrapes never
 * read, were held here for as long as their client wished. An idle keep-alive connection goes after
 * `keepAliveTimeout` seconds, as on the main port: Node's own 5 s, below a scraper's interval, made
 * Prometheus open a new connection for every scrape, and told it `Keep-Alive: timeout=5`.
 */
export async function listenMetrics(
  metrics: Metrics,
  host: string,
  port: number,
  {
    requestTimeout,
    keepAliveTimeout,
    maxConnections,
    answerMinRate,
    requestHeaderBudget,
    warn,
  }: MetricsPortBounds,
): Promise<MetricsServer> {
  const bounds = {
    keepAliveTimeout: keepAliveTimeout * 1000,
    requestTimeout: requestTimeout * 1000,
    headersTimeout: requestTimeout * 1000,
    connectionsCheckingInterval: Math.min(30_000, requestTimeout * 250),
    // Refused below, with nosniff, where Node's own 400 had none.
    requireHostHeader: false,
  };
  const server: Server = createServer(bounds, (request, response) => {
    // As on the main port (security-headers.ts): no answer is read as another type than it says.
    response.setHeader('x-content-type-options', 'nosniff');
    if (request.headers.host === undefined && request.httpVersion === '1.1') {
      const body = JSON.stringify({
        error: 'validation_failed',
        message: 'An HTTP/1.1 request must have a Host header',
      });
      response
        .writeHead(400, { ...OUTSIDE_REPLY_HEADERS, 'content-length': Buffer.byteLength(body) })
        .end(body);
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: metrics are at /metrics\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Once listening: a port that could not be had leaves no timer behind.
  capConnections(server, maxConnections, warn);
  const dropped = metrics.connectionsDropped('metrics');
  server.on('clientError', answerClientError);
  server.on('checkExpectation', refuseExpectation);
  watchDroppedConnections(server, dropped);
  const stalled = { minRate: answerMinRate, dropped: () => dropped('answerMinRate') };
  server.once('close', dropStalledReaders(server, requestTimeout * 1000, stalled));
  const headers = { refuse: refuseOverHeaderBudget, dropped: () => dropped('requestHeaderBudget') };
  server.once('close', boundUnfinishedHeaders(server, requestHeaderBudget, headers));
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scrape is answered from memory at once: what is still open is idle or a client that has not
        // sent its request, which the stop need not wait for (close alone waits for the latter's bound).
        server.closeAllConnections();
      }),
  };
}
