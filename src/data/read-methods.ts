import type { FastifyRequest } from 'fastify';

/**
 * GET, and HEAD (a GET without the body): json-server (Express) answers HEAD as GET, so the data API
 * routes it as one and the access rules judge it by the read digit, never as a write.
 */
export function isRead(request: Pick<FastifyRequest, 'method'>): boolean {
  return request.method === 'GET' || request.method === 'HEAD';
}
