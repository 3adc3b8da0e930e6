import type { RateLimitFamily } from '../rate-limit.js';

/**
 * What the auth use cases report as it happens, for whoever counts it (the
 * Prometheus metrics, src/metrics). An observer only listens: it decides
 * nothing, and core knows nothing of what it does with the news.
 */
/**
 * How a session was opened: a password; a mailed link or code (magic link, confirmation, invitation,
 * recovery); a PKCE code exchanged; a sign-up that signs in at once; an anonymous sign-in; an OAuth
 * or OIDC provider's callback; a provider's id_token (signInWithIdToken).
 */
export type SignInMethod = 'password' | 'email' | 'pkce' | 'signup' | 'anonymous' | 'oauth' | 'id_token';

export interface AuthEvents {
  /** A sign-in ended: `success`, or the error code it was refused with (`invalid_credentials` ...). */
  signIn(outcome: string, method: SignInMethod): void;
  /** A spent refresh token came back after its grace period: its session was ended. */
  refreshTokenReused(): void;
  /** A client was refused for going past its family's rate limit. */
  rateLimited(family: RateLimitFamily): void;
}

/** The observer of a server without metrics. */
export const unobserved: AuthEvents = {
  signIn() {},
  refreshTokenReused() {},
  rateLimited() {},
};
