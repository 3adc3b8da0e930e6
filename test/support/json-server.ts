import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';

/**
 * json-server 0.17.4 itself (a devDependency), in-process as its README's
 * "module" example builds it: defaults (no logger), rewriter when routes are
 * given, body parser, router over a db.json file. The compat suites send it
 * the same requests as restauth.
 */
const require = createRequire(import.meta.url);
const jsonServer = require('json-server') as {
  create(): { use(...args: unknown[]): void; listen(port: number, host: string, cb: () => void): Server };
  router(file: string): unknown;
  rewriter(routes: Record<string, string>): unknown;
  defaults(options: object): unknown;
  bodyParser: unknown;
};

export interface RunningJsonServer {
  base: string;
  close(): Promise<void>;
}

export async function startJsonServer(
  dbFile: string,
  options: { routes?: Record<string, string> } = {},
): Promise<RunningJsonServer> {
  const app = jsonServer.create();
  app.use(jsonServer.defaults({ logger: false }));
  if (options.routes) app.use(jsonServer.rewriter(options.routes));
  app.use(jsonServer.bodyParser);
  app.use(jsonServer.router(dbFile));
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

/** One request; the body parsed when it is JSON, else its text; the headers json-server users rely on. */
export async function call(
  base: string,
  method: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const { body } = init;
  const response = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? '' : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const headers: Record<string, string | null> = {};
  for (const name of [
    'content-type',
    'x-total-count',
    'cache-control',
    'pragma',
    'expires',
    'x-content-type-options',
  ])
    headers[name] = response.headers.get(name);
  return { status: response.status, headers, body: parsed };
}
