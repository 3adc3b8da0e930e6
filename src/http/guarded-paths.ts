import type { FastifyInstance } from 'fastify';
import { DATA_API_URLS } from '../data/index.js';
import {
  JSON_SERVER_AUTH_LOGIN_PATHS,
  JSON_SERVER_AUTH_REGISTER_PATHS,
} from './dialects/json-server-auth-docs.js';

/**
 * A URL restauth rewrote before routing reaches only the routes the rewrite was made for; on any
 * other it is no path (404). Reaching every route, a rewrite led past a proxy in front that keeps
 * /metrics, /health or the admin API from the internet by their paths: json-server-auth's guard
 * (`/600/metrics`) and a routes.json rule (`{"/api/*": "/$1"}`: `/api/metrics`) both answered
 * /metrics.
 */
export function confineRewrites(
  app: FastifyInstance,
  targetsOf: (raw: object) => ReadonlySet<string> | undefined,
): void {
  app.addHook('onRequest', async (request, reply) => {
    const targets = targetsOf(request.raw);
    if (targets === undefined || targets.has(request.routeOptions.url ?? '')) return;
    return reply.callNotFound();
  });
}

/** json-server-auth's guard names a collection: it leads to the data API only, as in json-server-auth. */
export const GUARD_TARGETS: ReadonlySet<string> = DATA_API_URLS;

/**
 * json-server applied routes.json before its router only (its data routes and /db; static files were
 * served before the rewrite), and json-server-auth's rewriter ran before its own routes, which clients
 * reach by a rule as well (`/api/login`).
 */
export const ROUTES_FILE_TARGETS: ReadonlySet<string> = new Set([
  ...DATA_API_URLS,
  ...JSON_SERVER_AUTH_REGISTER_PATHS,
  ...JSON_SERVER_AUTH_LOGIN_PATHS,
]);
