import type { FastifyRequest } from 'fastify';
import type { AdminService } from '../../../core/admin-service.js';
import type { AuditLog } from '../../../core/audit.js';
import type { AuthService, CheckResult } from '../../../core/auth-service.js';
import type { EmailFlows } from '../../../core/email-flows.js';
import type { PkceFlows } from '../../../core/flow-states.js';
import type { Identities } from '../../../core/identities.js';
import type { IdentityLinking } from '../../../core/identity-linking.js';
import type { OAuthServices } from '../../../core/oauth/services.js';
import { AuthError } from '../../../core/errors.js';
import type { RateLimitFamily } from '../../../core/rate-limit.js';
import { TokenError, type TokenService } from '../../../core/tokens.js';
import type { ReadinessProbe } from '../../../core/ports/readiness.js';
import { bearerToken } from '../../../lib/bearer-token.js';
import type { RateLimitHook } from '../../rate-limit.js';
import type { RedirectPolicy } from '../../redirects.js';

/** What every part of the GoTrue dialect needs. */
export interface GotrueOptions {
  auth: AuthService;
  flows: EmailFlows;
  pkce: PkceFlows;
  admin: AdminService;
  identities: Identities;
  /** OAuth and OIDC sign-in: the configured providers, the flows' state, who signs in. */
  oauth: OAuthServices;
  /** linkIdentity's callback half: the identity of a flow GET /user/identities/authorize started, linked. */
  identityLinking: IdentityLinking;
  audit: AuditLog;
  tokens: TokenService;
  /** The clock the auth rules read: role tokens, bans and key lifetimes are judged by it too. */
  clock: () => Date;
  /** Whether the instance can serve: GoTrue's /health answers 503 when not. */
  readiness: ReadinessProbe;
  limit: RateLimitHook;
  /** Counts a request against a family's limit for a key other than the client (an address). */
  limitKey: (family: RateLimitFamily, key: string) => Promise<void>;
  redirects: RedirectPolicy;
  settings: {
    /** Mount point (not `prefix`: Fastify would apply that one itself). */
    mountPath: string;
    /** The origin of restauth's public URL: where the hosted pages' forms must come from (form-from-own-page.ts). */
    publicOrigin: string;
    appName: string;
    authenticatedRole: string;
    serviceRole: string;
    /** The `aud` of access tokens (GoTrue's JWT_AUD): jwt.audience, else "authenticated". */
    audience: string;
    signupEnabled: boolean;
    /** POST /signup without an address signs in anonymously (GoTrue's external.anonymous_users.enabled). */
    anonymousUsers: boolean;
    /** Users link and unlink identities themselves (GoTrue's security.manual_linking_enabled). */
    manualLinking: boolean;
    /** linkIdentity may start without a PKCE challenge (identities.implicitLinking). */
    implicitLinking: boolean;
    /** The OAuth and OIDC providers switched on (external.<name>.enabled), lower case. */
    enabledProviders: readonly string[];
    /** New addresses confirm before signing in. */
    confirmEmail: boolean;
    minPasswordLength: number;
    /** Serve /admin/*: only when the secret or keys that sign role tokens were configured, not generated. */
    adminApi: boolean;
  };
}

/** The caller's checked access token; 401 no_authorization without one. */
export async function requireUser(auth: AuthService, request: FastifyRequest): Promise<CheckResult> {
  return auth.check(bearerOf(request));
}

/** The request's bearer token; 401 no_authorization without one. */
export function bearerOf(request: FastifyRequest): string {
  const token = bearerToken(request.headers.authorization);
  if (token === null) throw new AuthError('no_authorization', 'This endpoint requires a Bearer token');
  return token;
}

/** A service-role token (admin routes): 401 without a token, 403 not_admin with any other. */
export async function requireAdmin(options: GotrueOptions, request: FastifyRequest): Promise<void> {
  const token = bearerToken(request.headers.authorization);
  if (token === null) throw new AuthError('no_authorization', 'This endpoint requires a Bearer token');
  try {
    await options.tokens.verifyRole(token, options.settings.serviceRole, options.clock());
  } catch (error) {
    // Only a token that does not prove the role is refused as not_admin; any other failure (an
    // outage, a bug) keeps its own answer instead of posing as a refusal.
    if (error instanceof TokenError) throw new AuthError('not_admin');
    throw error;
  }
}
