import type { FastifyInstance } from 'fastify';

/**
 * Marks every answer of `scope` (an auth dialect's routes) `Cache-Control: no-store` unless its
 * route chose its own caching (JWKS: public, max-age). Their answers carry tokens, refresh tokens or
 * an account (RFC 6749 §5.1 asks this of any answer with a token), and neither a browser's disk
 * cache nor a proxy may keep them. The data API keeps json-server's `no-cache` (data/index.ts).
 */
export function noStore(scope: FastifyInstance): void {
  scope.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) void reply.header('Cache-Control', 'no-store');
    done(null, payload);
  });
}
