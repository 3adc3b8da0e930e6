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

/**
 * Why an OAuth or OIDC callback led back without signing anyone in (a closed list: a metrics label):
 * its state unknown, spent or expired; no code or no state; the provider's own error
 * (access_denied ...); the code exchange refused or failed; the id_token refused (signature,
 * issuer, audience, expiry, nonce); the provider's profile unreadable or without an address;
 * sign-ups off; a banned user; an unverified address mailed its confirmation; a link refused
 * (the identity someone else's; a PKCE link's refusals come at its code exchange and count too);
 * anything else.
 */
export type OAuthCallbackRefusal =
  | 'state'
  | 'callback'
  | 'provider_error'
  | 'exchange'
  | 'id_token'
  | 'profile'
  | 'signup_disabled'
  | 'user_banned'
  | 'email_unverified'
  | 'identity'
  | 'other';

export interface AuthEvents {
  /** A sign-in ended: `success`, or the error code it was refused with (`invalid_credentials` ...). */
  signIn(outcome: string, method: SignInMethod): void;
  /** A spent refresh token came back after its grace period: its session was ended. */
  refreshTokenReused(): void;
  /** A client was refused for going past its family's rate limit, or an account past its wrong passwords. */
  rateLimited(family: RateLimitFamily | 'passwordGuesses'): void;
  /** An OAuth callback was refused; `provider` is its flow's (a configured name) or `unknown` without one. */
  oauthCallbackRefused(provider: string, reason: OAuthCallbackRefusal): void;
}

/** The observer of a server without metrics. */
export const unobserved: AuthEvents = {
  signIn() {},
  refreshTokenReused() {},
  rateLimited() {},
  oauthCallbackRefused() {},
};
