import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { RateLimitFamily, RateLimiter } from '../core/rate-limit.js';

/** Builds the preHandler that counts a request against its family's limit. */
export type RateLimitHook = (family: RateLimitFamily) => preHandlerAsyncHookHandler;

/**
 * The client's address: Fastify's `request.ip`, which follows X-Forwarded-For
 * only through the configured trusted proxies (`trustProxy`), from the right,
 * so the entries a client writes itself never pick its bucket.
 */
export function clientAddress(request: FastifyRequest): string {
  return request.ip;
}

export function rateLimitHook(limiter: RateLimiter): RateLimitHook {
  return (family) => async (request) => {
    await limiter.check(family, clientAddress(request));
  };
}
