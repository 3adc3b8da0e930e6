import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { RateLimitFamily, RateLimiter } from '../core/rate-limit.js';

/** Builds the preHandler that counts a request against its family's limit. */
export type RateLimitHook = (family: RateLimitFamily) => preHandlerAsyncHookHandler;

/**
 * The client's address: the peer's, or the first address of the configured
 * trusted proxy header. The header is read only when configured, so a client
 * cannot pick its own bucket by sending one.
 */
export function clientAddress(request: FastifyRequest, trustedProxyHeader: string | null): string {
  if (trustedProxyHeader) {
    const value = request.headers[trustedProxyHeader.toLowerCase()];
    const first = (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket.remoteAddress ?? request.ip;
}

export function rateLimitHook(limiter: RateLimiter, trustedProxyHeader: string | null): RateLimitHook {
  return (family) => async (request) => {
    await limiter.check(family, clientAddress(request, trustedProxyHeader));
  };
}
