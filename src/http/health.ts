import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { OUTAGE_RETRY_AFTER_SECONDS, type ReadinessProbe } from '../core/ports/readiness.js';
import { documentRoutes } from './route-docs.js';

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  checks: Type.Record(Type.String(), Type.Unknown(), { description: 'each check and how it went' }),
});

/**
 * Probes for orchestrators and load balancers, outside every dialect:
 *
 * - `GET /health`, liveness: 200 while the process serves HTTP at all. It
 *   does not look at the database: restarting restauth cures no outage.
 * - `GET /ready`, readiness: 200 when the store answers, its migrations are
 *   applied and (file store) its folders are writable; else 503 with
 *   Retry-After, so traffic goes to another instance meanwhile.
 *
 * Registered as static routes, they take precedence over a data API
 * collection of the same name.
 */
export const healthRoutes: FastifyPluginAsync<{ readiness: ReadinessProbe }> = async (app, { readiness }) => {
  documentRoutes(app, 'probes', {
    'GET /health': {
      summary: 'Liveness: 200 while the process serves HTTP',
      response: { 200: Type.Object({ status: Type.Literal('ok') }) },
    },
    'GET /ready': {
      summary: 'Readiness: 200 when the store answers and is migrated and writable, else 503',
      response: { 200: Readiness, 503: Readiness },
    },
  });
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const report = await readiness();
    if (!report.ready) {
      void reply.code(503).header('Retry-After', String(OUTAGE_RETRY_AFTER_SECONDS));
    }
    return { status: report.ready ? 'ready' : 'unavailable', checks: report.checks };
  });
};
