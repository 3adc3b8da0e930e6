import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { rateLimitBucket } from '../core/client-bucket.js';
import type { RateLimitFamily, RateLimiter } from '../core/rate-limit.js';
import type { DeferredHit } from '../core/rate-limit-deferred.js';

/** Builds the preHandler that counts a request against its family's limit. */
export interface RateLimitHook {
  (family: RateLimitFamily): preHandlerAsyncHookHandler;
  /**
   * As the preHandler, but leaving the hit to the handler (`deferredHit`) where the limiter can count
   * it later, in a statement the request sends anyway (RateLimiter.defer); else counted at once.
   */
  deferring(family: RateLimitFamily): preHandlerAsyncHookHandler;
  /** The hit `deferring` left on `request` (null: counted already), counted by `withSignInHit`. */
  deferredHit(request: FastifyRequest): DeferredHit | null;
}

/**
 * The client's address: Fastify's `request.ip`, which follows X-Forwarded-For
 * only through the configured trusted proxies (`trustProxy`), from the right,
 * so the entries a client writes itself never pick its bucket.
 */
export function clientAddress(request: FastifyRequest): string {
  return request.ip;
}

/** What an unlimited family's routes run: nothing (its bucket, an address parsed, cost 33 µs a request). */
const unlimited: preHandlerAsyncHookHandler = async () => {};

export function rateLimitHook(limiter: RateLimiter): RateLimitHook {
  const deferred = new WeakMap<FastifyRequest, DeferredHit>();
  const limit = (family: RateLimitFamily): preHandlerAsyncHookHandler =>
    limiter.limits(family)
      ? async (request) => {
          await limiter.check(family, rateLimitBucket(clientAddress(request)));
        }
      : unlimited;
  return Object.assign(limit, {
    deferring: (family: RateLimitFamily): preHandlerAsyncHookHandler =>
      limiter.limits(family)
        ? async (request) => {
            const bucket = rateLimitBucket(clientAddress(request));
            const hit = limiter.defer(family, bucket);
            if (hit) deferred.set(request, hit);
            else await limiter.check(family, bucket);
          }
        : unlimited,
    deferredHit: (request: FastifyRequest) => deferred.get(request) ?? null,
  });
}
