import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance } from 'fastify';
import type { RequestContext } from '../core/audit.js';
import { clientAddress } from './rate-limit.js';

/**
 * The request being served, readable anywhere below the route (the audit
 * log records the client address) without threading it through every call.
 */
const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs each request inside its context (callback style: `run` must wrap everything after the hook). */
export function provideRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    storage.run({ ip: clientAddress(request) }, done);
  });
}
