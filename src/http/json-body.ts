import type { FastifyInstance } from 'fastify';
import { AuthError } from '../core/errors.js';

/**
 * Nesting allowed in a JSON body. Nothing restauth or a json-server client
 * stores comes near it; far deeper input only costs stack and time in every
 * later parse, stringify and query of what was stored.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` opens more than `limit` arrays and objects inside each other (strings skipped). */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // a backslash escapes the next character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      if (++depth > limit) return true;
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
  return false;
}

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
