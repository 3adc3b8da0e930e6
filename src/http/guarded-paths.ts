import type { FastifyInstance } from 'fastify';
import { DATA_API_URLS } from '../data/index.js';

/**
 * json-server-auth's guard (`/664/posts`) is taken off a request's URL before routing, and names a
 * collection of the data API. Taken off every URL, it led to every route under another path:
 * `/600/metrics` answered /metrics and `/600/auth/v1/admin/users` the admin API, past a proxy in
 * front that keeps those from the internet by their paths. On any route but the data API's a
 * guarded URL is no path (404), as in json-server-auth, whose guards led only to its resources.
 */
export function confineGuards(app: FastifyInstance, isGuarded: (raw: object) => boolean): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!isGuarded(request.raw) || DATA_API_URLS.has(request.routeOptions.url ?? '')) return;
    return reply.callNotFound();
  });
}
