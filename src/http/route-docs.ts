import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** What the OpenAPI document says of one route, beyond its request schemas. */
export interface RouteDoc {
  summary: string;
  /** The answers by status; errors included, in the dialect's error shape. */
  response: Record<number, TSchema>;
  /** Needs a bearer token (an access token, or a service-role token for the admin API). */
  bearer?: boolean;
  description?: string;
}

/** A dialect's route docs, keyed by `METHOD /path` as the dialect registers it (without its mount path). */
export type RouteDocs = Record<string, RouteDoc>;

/**
 * Gives every route registered in `scope` (and its children) its summary,
 * tag, security and response schemas from `docs`, kept in one file per
 * dialect beside the routes. A route missing from `docs` gets none, and
 * test/http/openapi.test.ts fails: every route is documented.
 */
export function documentRoutes(scope: FastifyInstance, tag: string, docs: RouteDocs, mountPath = ''): void {
  scope.addHook('onRoute', (route: RouteOptions) => {
    if (route.method === 'HEAD' || (Array.isArray(route.method) && route.method.length !== 1)) return;
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    const path = route.url.startsWith(mountPath) ? route.url.slice(mountPath.length) || '/' : route.url;
    const doc = docs[`${method} ${path}`];
    if (!doc) return;
    route.schema = {
      ...route.schema,
      tags: [tag],
      summary: doc.summary,
      ...(doc.description ? { description: doc.description } : {}),
      ...(doc.bearer ? { security: [{ bearer: [] }] } : {}),
      response: doc.response,
    };
  });
}

/** Keeps the routes registered in `scope` out of the document (the data API's catch-all, documented by hand). */
export function hideRoutes(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route: RouteOptions) => {
    route.schema = { ...route.schema, hide: true };
  });
}
