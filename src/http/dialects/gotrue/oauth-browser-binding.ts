import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAUTH_FLOW_LIFETIME_SECONDS } from '../../../core/oauth/flows.js';

/**
 * The cookie that binds an OAuth flow to the browser that started it (GoTrue has none): set
 * where the flow starts (GET /authorize, linkIdentity's start or its continue step), checked and
 * cleared at the callback. One cookie per flow (its name carries the state), so flows started in
 * two tabs do not replace each other's. Its path is the callback's, so it travels nowhere else;
 * HttpOnly; SameSite=Lax, which a provider's redirect (a top-level GET) carries. A provider that
 * answers with a cross-site form POST (Apple's form_post) needs SameSite=None, and so Secure.
 */
const COOKIE_PREFIX = 'restauth-oauth-';

/** Where and how the cookie is set: restauth's callback address (the provider's redirect URI). */
export interface BindingTarget {
  callbackUrl: string;
  /** The provider answers by a form POST from its own site (response_mode=form_post). */
  formPost: boolean;
}

export function setBindingCookie(
  reply: FastifyReply,
  state: string,
  value: string,
  target: BindingTarget,
): void {
  const callback = new URL(target.callbackUrl);
  const attributes = [
    `Path=${callback.pathname}`,
    `Max-Age=${OAUTH_FLOW_LIFETIME_SECONDS}`,
    'HttpOnly',
    target.formPost ? 'SameSite=None' : 'SameSite=Lax',
    ...(target.formPost || callback.protocol === 'https:' ? ['Secure'] : []),
  ];
  reply.header('set-cookie', `${COOKIE_PREFIX}${state}=${value}; ${attributes.join('; ')}`);
}

/** The callback's answer forgets the flow's cookie: the flow is spent either way. */
export function clearBindingCookie(reply: FastifyReply, state: string, callbackPath: string): void {
  reply.header('set-cookie', `${COOKIE_PREFIX}${state}=; Path=${callbackPath}; Max-Age=0; HttpOnly`);
}

/** Whether the request brings flow `state`'s cookie with `value`. */
export function bringsBinding(request: FastifyRequest, state: string, value: string): boolean {
  const name = `${COOKIE_PREFIX}${state}=`;
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const pair = part.trim();
    if (!pair.startsWith(name)) continue;
    const given = Buffer.from(pair.slice(name.length));
    const expected = Buffer.from(value);
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}
