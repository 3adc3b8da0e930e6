import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError } from '../core/errors.js';

/**
 * The refusals Node or Fastify wrote themselves on the raw response, made in Fastify's reply instead:
 * there they carry the security headers (security-headers.ts), the dialect's error shape and
 * `Connection: close`, and are counted in the metrics like every other answer.
 *
 * - An HTTP/1.1 request without a Host header (RFC 9112 3.2): Node answered 400 with no body and no
 *   nosniff (its requireHostHeader, turned off in app.ts for this).
 * - A request arriving while the server closes: Fastify's return503OnClosing wrote its own 503 body
 *   with no nosniff (turned off in app.ts for this). Fastify still says `Connection: close` on it.
 *
 * Registered on the root before the dialects, so every route's and the not-found handler's requests
 * pass through it; a refusal is thrown, so the route's scope shapes it as its dialect does.
 */
export function refuseBeforeHandlers(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (closing) return done(new AuthError('service_unavailable', 'The server is shutting down'));
    const { raw } = request;
    if (raw.headers.host === undefined && raw.httpVersionMajor === 1 && raw.httpVersionMinor === 1) {
      void reply.header('connection', 'close');
      return done(new AuthError('validation_failed', 'An HTTP/1.1 request must have a Host header'));
    }
    done();
  });
}

/**
 * Fastify's frameworkErrors: a path it cannot decode (FST_ERR_BAD_URL, 400), a parameter past
 * maxParamLength (FST_ERR_MAX_PARAM_LENGTH, 414), a route constraint that failed (500), found before
 * any route. Without it Fastify wrote these on the raw response, in its own shape, with no nosniff.
 * No route, so no dialect, is known: restauth's own error body, as the not-found handler's.
 */
export function answerFrameworkError(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = error.statusCode ?? 500;
  const refused = status < 500;
  // Set here: Fastify answers these outside any route's hooks, the root's onSend (security-headers.ts) too.
  void reply
    .code(status)
    .header('X-Content-Type-Options', 'nosniff')
    .send({
      error: refused ? 'validation_failed' : 'unexpected_failure',
      message: refused ? error.message : 'Unexpected failure',
    });
}
