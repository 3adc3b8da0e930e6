import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAUTH_FLOW_LIFETIME_SECONDS } from '../../../core/oauth/flows.js';

/**
 * The cookie that binds an OAuth flow to the browser that started it (GoTrue has none): set
 * where the flow starts (GET /authorize, linkIdentity's start or its continue step), checked and
 * cleared at the callback. One cookie per flow (its name carries the state), so flows started in
 * two tabs do not replace each other's. HttpOnly; SameSite=Lax, which a provider's redirect (a
 * top-level GET) carries. A provider that answers with a cross-site form POST (Apple's
 * form_post) needs SameSite=None, and so Secure.
 *
 * A Secure one (an https callback, or SameSite=None) is named `__Host-...`: a browser takes such
 * a cookie only from this very host, Secure, with Path=/ and no Domain, so a sibling subdomain
 * (another app under the same site) cannot toss one in. Unprefixed, a sibling could set the
 * cookie of the attacker's own flow (its value the attacker's browser was given) in the victim's
 * browser, for the site-wide domain, and the victim's callback of that flow passed. Only that
 * name is read there. Over plain http (a local setup) no prefix is possible (it needs Secure);
 * the cookie's path is then the callback's, so it travels nowhere else.
 */
const COOKIE_PREFIX = 'restauth-oauth-';
const HOST_ONLY = '__Host-';

/** Where and how the cookie is set: restauth's callback address (the provider's redirect URI). */
export interface BindingTarget {
  callbackUrl: string;
  /** The provider answers by a form POST from its own site (response_mode=form_post). */
  formPost: boolean;
}

/** The cookie's name, path and whether it is Secure for flow `state`: the same at setting, reading, clearing. */
function cookieOf(state: string, target: BindingTarget): { name: string; path: string; secure: boolean } {
  const callback = new URL(target.callbackUrl);
  const secure = target.formPost || callback.protocol === 'https:';
  return secure
    ? { name: `${HOST_ONLY}${COOKIE_PREFIX}${state}`, path: '/', secure }
    : { name: `${COOKIE_PREFIX}${state}`, path: callback.pathname, secure };
}

export function setBindingCookie(
  reply: FastifyReply,
  state: string,
  value: string,
  target: BindingTarget,
): void {
  const { name, path, secure } = cookieOf(state, target);
  const attributes = [
    `Path=${path}`,
    `Max-Age=${OAUTH_FLOW_LIFETIME_SECONDS}`,
    'HttpOnly',
    target.formPost ? 'SameSite=None' : 'SameSite=Lax',
    ...(secure ? ['Secure'] : []),
  ];
  reply.header('set-cookie', `${name}=${value}; ${attributes.join('; ')}`);
}

/** The callback's answer forgets the flow's cookie: the flow is spent either way. */
export function clearBindingCookie(reply: FastifyReply, state: string, target: BindingTarget): void {
  const { name, path, secure } = cookieOf(state, target);
  reply.header('set-cookie', `${name}=; Path=${path}; Max-Age=0; HttpOnly${secure ? '; Secure' : ''}`);
}

/** Whether the request brings flow `state`'s cookie, by the name it was set with, with `value`. */
export function bringsBinding(
  request: FastifyRequest,
  state: string,
  value: string,
  target: BindingTarget,
): boolean {
  const name = `${cookieOf(state, target).name}=`;
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const pair = part.trim();
    if (!pair.startsWith(name)) continue;
    const given = Buffer.from(pair.slice(name.length));
    const expected = Buffer.from(value);
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}
