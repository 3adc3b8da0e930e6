import type { FastifyRequest } from 'fastify';
import type { Client } from '../core/audit.js';
import { clientAddress, type RateLimitHook } from './rate-limit.js';

/** Who sent this request, as the use cases it calls record it in the audit log. */
export function clientOf(request: FastifyRequest): Client {
  return { ip: clientAddress(request) };
}

/**
 * Runs `work` for the client of a request whose sign-in hit the route left to the password check
 * (RateLimitHook.deferring): whatever path it took, the hit is counted by its end, and a refusal
 * past the allowance is the answer, as the preHandler's came first.
 */
export async function withSignInHit<T>(
  limit: RateLimitHook,
  request: FastifyRequest,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const signInHit = limit.deferredHit(request);
  try {
    return await work({ ...clientOf(request), signInHit });
  } finally {
    await signInHit?.count();
  }
}
