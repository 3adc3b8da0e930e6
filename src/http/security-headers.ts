import type { FastifyInstance } from 'fastify';

/**
 * `X-Content-Type-Options: nosniff` on every answer of every dialect, errors and 404s included:
 * a browser then never reads an answer as another type than it says (a JSON error quoting a
 * request's text taken for HTML or a script). The data API sent it alone (json-server's res.jsonp
 * did); GoTrue's answers and hosted pages did not. Registered on the root, so every scope's answers,
 * the not-found handler's and the error handler's pass through it.
 */
export function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    void reply.header('X-Content-Type-Options', 'nosniff');
    done(null, payload);
  });
}
