import type { IncomingHttpHeaders } from 'node:http';

/**
 * Whether a browser's form POST came from a page of restauth's own origin: the guard against login
 * CSRF on a hosted form that signs the browser in. Without it, another site auto-submits the form
 * with the attacker's own one-time token, and the victim's browser lands in the attacker's account
 * (and types its data there).
 *
 * A browser says where a request comes from in two headers; either one refusing is enough:
 * - `Sec-Fetch-Site` (Chromium, Firefox, Safari 16.4+), set by the browser alone: present, it must be
 *   `same-origin`. `same-site` is refused too: a sibling subdomain is another app.
 * - `Origin`: present, it must be `publicOrigin`, the origin of restauth's public URL (the one the
 *   mailed links name; a proxy in front does not change what the browser sends). `null` is what a
 *   page with a no-referrer policy, a sandboxed frame or a data: URL sends: taken only when
 *   `Sec-Fetch-Site: same-origin` vouches for it.
 *
 * A request with neither header is taken: curl, scripts and browsers too old to send either (current
 * browsers send `Origin` on every form POST; Firefox since version 70). Such an old browser is left
 * as unguarded as before; every other one is guarded.
 *
 * Node joins a repeated header with ", ": such a value matches neither rule, so it is refused.
 */
export function isFromOwnPage(headers: IncomingHttpHeaders, publicOrigin: string): boolean {
  const site = headers['sec-fetch-site'];
  const origin = headers.origin;
  if (site !== undefined && site !== 'same-origin') return false;
  if (origin === undefined) return true;
  if (origin === 'null') return site === 'same-origin';
  return origin === publicOrigin;
}

/** The origin of restauth's public URL (`publicUrl(config)`), as a browser writes it in `Origin`. */
export function originOf(publicUrl: string): string {
  return new URL(publicUrl).origin;
}
