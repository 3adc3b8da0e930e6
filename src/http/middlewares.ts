import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipelineEnded } from './in-flight.js';

/** An Express-style middleware, as json-server's --middlewares files export them. */
type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** A middleware file that cannot be used stops the start with one line naming it (no stack). */
class MiddlewareFileError extends Error {
  override readonly name = 'MiddlewareFileError';
  readonly code = 'EMIDDLEWARE';
}

/** The functions a middleware file exports: `module.exports = fn`, `export default fn`, or a list of them. */
async function middlewaresOf(file: string): Promise<Middleware[]> {
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    throw new MiddlewareFileError(`middleware file ${file} cannot be loaded: ${(error as Error).message}`);
  }
  const exported = loaded.default;
  const list = Array.isArray(exported) ? (exported as unknown[]) : [exported];
  if (list.length === 0 || !list.every((fn) => typeof fn === 'function')) {
    throw new MiddlewareFileError(
      `middleware file ${file} must export a function (req, res, next), or a list of them`,
    );
  }
  return list as Middleware[];
}

/**
 * json-server's --middlewares through @fastify/middie, in the order given.
 * They run at preHandler, as json-server ran them after its body parser:
 * `req.body` and `req.query` are there. That is after routing, so changing
 * `req.url` does not re-route (a routes file does that), and before the
 * handler, so before the data API checks the caller's token: a middleware
 * that answers by itself answers for everyone; what it passes on with next()
 * is checked as usual.
 */
export async function useMiddlewares(app: FastifyInstance, files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  const middlewares = (await Promise.all(files.map(middlewaresOf))).flat();
  // Imported only when middlewares are given (start-up time and memory).
  const middie = (await import('@fastify/middie')).default;
  // A middleware that answers by itself writes on the raw response, past Fastify's onSend and so
  // past security-headers.ts: nosniff is set on the raw response first (Fastify's own answers set it
  // again, once). Only when middlewares are given: a header set per request costs every request.
  // Such an answer also ends the request without a handler, so RequestsInFlight never saw its
  // pipeline end: it was counted for ever, and every close waited SHUTDOWN_GRACE_MS (a minute) for
  // it. An answer finished before the middlewares passed the request on ends its pipeline here.
  const passedOn = new WeakSet<ServerResponse>();
  app.addHook('preHandler', (_request, reply, done) => {
    reply.raw.setHeader('X-Content-Type-Options', 'nosniff');
    reply.raw.once('finish', () => {
      if (!passedOn.has(reply.raw)) pipelineEnded(reply);
    });
    done();
  });
  await app.register(middie, { hook: 'preHandler' });
  for (const middleware of middlewares) app.use(middleware);
  // After middie's hook: every middleware called next().
  app.addHook('preHandler', (_request, reply, done) => {
    passedOn.add(reply.raw);
    done();
  });
}
