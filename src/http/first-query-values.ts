import type { FastifyRequest } from 'fastify';

/**
 * A query parameter given more than once is read as its first value, as GoTrue's Go handlers read
 * every parameter (url.Values.Get, r.FormValue): `?code=a&code=b` is `code=a`. Fastify's parser
 * gives the list ['a', 'b'], which a route's string schema refused with 400 "querystring/code must
 * be string" (a provider, a proxy or a link tracker appending a parameter again broke a sign-in).
 * A preValidation hook of the GoTrue dialect only: the data API reads a repeated parameter as a
 * list, as json-server does (`?id=1&id=2`).
 */
export function firstQueryValues(request: FastifyRequest): void {
  const query = request.query;
  if (query === null || typeof query !== 'object') return;
  const entries = Object.entries(query);
  if (!entries.some(([, value]) => Array.isArray(value))) return;
  // A new object without a prototype, as the parser's own: no parameter name becomes an inherited key.
  const first = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of entries) {
    // eslint-disable-next-line no-restricted-syntax -- a null-prototype object
    first[name] = Array.isArray(value) ? value[0] : value;
  }
  request.query = first;
}
