/** `http://` or `https://` and an authority: what the absolute-form puts before the path. */
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]+/iu;

/**
 * A request target in origin-form (`/path?query`). HTTP/1.1 lets a client send the absolute-form
 * (`GET http://host/path`, as it does to a forward proxy) and a server must take it (RFC 9112
 * 3.2.2). Fastify's router routes it by its path, but request.url kept the client's scheme and
 * authority, so whatever read request.url as a path read another one: the hosted /verify page
 * posted its form, the link's token in it, to whatever host the request named, and the data API
 * took `http:` for the collection. The authority is the client's word, as a Host header is:
 * dropped, as find-my-way drops it. Anything else (a fragment, which no target carries, or no
 * authority) is left for the router to refuse.
 */
export function originForm(target: string): string {
  // Nearly every request: nothing to do.
  if (target.charCodeAt(0) === 47 /* '/' */) return target;
  const authority = ABSOLUTE_FORM.exec(target);
  if (authority === null || target.includes('#')) return target;
  const rest = target.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
