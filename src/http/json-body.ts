import type { FastifyInstance } from 'fastify';
import { AuthError } from '../core/errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../lib/json-depth.js';

/**
 * Replaces the JSON body parser of `app` (and the scopes it holds): an empty
 * body with `Content-Type: application/json` is `emptyBody` (postgrest-auth's
 * bearer refresh and json-data-server's logout clients send exactly that), a
 * body nested deeper than MAX_JSON_DEPTH is a 400 before any route sees it,
 * and everything else goes to Fastify's own parser, which keeps refusing
 * `__proto__` and `constructor.prototype` keys (prototype poisoning).
 */
export function parseJsonBodies(app: FastifyInstance, emptyBody: () => unknown): void {
  const json = app.getDefaultJsonParser('error', 'error');
  if (app.hasContentTypeParser('application/json')) app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, emptyBody());
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      return done(
        new AuthError('invalid_json', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`),
        undefined,
      );
    }
    json(request, text, done);
  });
}
