import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AuthError } from '../../../core/errors.js';
import { onAdminUserId } from './admin-user-id.js';
import { requireAdmin, requireUser, type GotrueOptions } from './context.js';

/**
 * GoTrue's routes for features restauth does not have (SAML, MFA, passkeys,
 * the OAuth server, SCIM, phone, Web3):
 * each answers what GoTrue answers when the feature is switched off, so a
 * client sees a disabled feature rather than a 404 or a schema message.
 * A route that gets built replaces its entry here (Fastify refuses a route
 * declared twice, so a forgotten one fails at start).
 */

/** GoTrue's OAuth providers (internal/conf/configuration.go ProviderConfiguration): configured, not found. */
const KNOWN_PROVIDERS = new Set([
  'apple',
  'azure',
  'bitbucket',
  'discord',
  'facebook',
  'figma',
  'fly',
  'github',
  'gitlab',
  'google',
  'kakao',
  'keycloak',
  'linkedin',
  'linkedin_oidc',
  'notion',
  'slack',
  'slack_oidc',
  'snapchat',
  'spotify',
  'twitch',
  'twitter',
  'x',
  'workos',
  'zoom',
  'vercel_marketplace',
]);

/** The issuers GoTrue names when an id_token's provider is not enabled (token_oidc.go). */
const ISSUERS = new Map([
  ['google', 'https://accounts.google.com'],
  ['apple', 'https://appleid.apple.com'],
  ['azure', 'https://login.microsoftonline.com/common/v2.0'],
  ['facebook', 'https://www.facebook.com'],
  ['kakao', 'https://kauth.kakao.com'],
  ['snapchat', 'https://accounts.snapchat.com'],
]);

function samlDisabled(): AuthError {
  return new AuthError('saml_provider_disabled');
}
function oauthServerDisabled(): AuthError {
  return new AuthError('feature_disabled', 'OAuth server is disabled');
}
const phoneLoginsDisabled = (status: number) =>
  new AuthError('phone_provider_disabled', 'Phone logins are disabled', { status });

/** GoTrue's answer to a provider that is not enabled (GET /authorize, and the callback of none). */
export function providerNotEnabled(provider: string): AuthError {
  const known = KNOWN_PROVIDERS.has(provider.toLowerCase());
  return new AuthError(
    'validation_failed',
    known
      ? 'Unsupported provider: provider is not enabled'
      : `Unsupported provider: Provider ${provider} could not be found`,
  );
}

function filled(value: unknown): boolean {
  return typeof value === 'string' && value !== '';
}

/**
 * The refusals GoTrue makes of a request's content before anything else (phone instead of an email,
 * a grant restauth lacks), run before the schema so its message never stands in for GoTrue's.
 */
export async function refuseDisabledInputs(request: FastifyRequest, mountPath: string): Promise<void> {
  const route = request.routeOptions.url?.slice(mountPath.length);
  if (request.method !== 'POST' || route === undefined) return;
  const body = (request.body ?? {}) as Record<string, unknown>;
  const query = request.query as Record<string, unknown>;
  const phoneOnly = filled(body['phone']) && !filled(body['email']);
  switch (route) {
    case '/signup':
      if (filled(body['phone']) && filled(body['email'])) {
        throw new AuthError(
          'validation_failed',
          'Only an email address or phone number should be provided on signup.',
        );
      }
      if (phoneOnly) throw new AuthError('phone_provider_disabled', 'Phone signups are disabled');
      return;
    case '/token':
      switch (query['grant_type']) {
        case 'password':
        case 'refresh_token':
        case 'pkce':
          if (phoneOnly) throw phoneLoginsDisabled(422);
          return;
        case 'web3':
          throw new AuthError('web3_provider_disabled');
        case 'id_token':
          // The grant's own route refuses a provider that is not enabled (idTokenProviderDisabled).
          return;
        default:
          throw new AuthError('invalid_credentials', 'unsupported_grant_type');
      }
    case '/otp':
      if (phoneOnly) throw new AuthError('phone_provider_disabled', 'Unsupported phone provider');
      return;
    case '/resend':
      if (body['type'] === 'sms' || body['type'] === 'phone_change') {
        if (!filled(body['phone']))
          throw new AuthError('validation_failed', 'Type provided requires a phone number');
        throw phoneLoginsDisabled(400);
      }
      return;
    case '/verify':
      // No phone ever got a code from restauth.
      if (body['type'] === 'sms' || body['type'] === 'phone_change') throw new AuthError('otp_expired');
      return;
  }
}

/** GoTrue's answer to signInWithIdToken naming no enabled provider (token_oidc.go). */
export function idTokenProviderDisabled(body: Record<string, unknown>): AuthError {
  const provider = typeof body['provider'] === 'string' ? body['provider'] : '';
  const issuer = typeof body['issuer'] === 'string' ? body['issuer'] : ISSUERS.get(provider);
  if (issuer === undefined) {
    return new AuthError('validation_failed', `Custom OIDC provider ${JSON.stringify(provider)} not allowed`);
  }
  return new AuthError('provider_disabled', `Provider (issuer ${JSON.stringify(issuer)}) is not enabled`);
}

const AnyBody = Type.Unknown({ description: 'Not read: the feature is disabled' });

interface DisabledRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** What GoTrue's route does, for the OpenAPI document. */
  summary: string;
  /** Who may call it in GoTrue: the refusal comes after the caller is checked, as there. */
  caller: 'anyone' | 'user' | 'admin';
  /** What it answers. */
  refusal: () => AuthError;
  /**
   * A route under /admin/users/:id: the user is looked up first, as GoTrue's loadUser does before
   * any of them, so an id naming no user is 404 user_not_found (validation_failed when it is not a
   * UUID: onAdminUserId), not an answer about nothing.
   */
  ofUser?: true;
}

/** The `:id` of a route under /admin/users/:id, as the admin user routes take it. */
const UserIdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: true },
);

const factorNotFound = () => new AuthError('mfa_factor_not_found');
const passkeysDisabled = () => new AuthError('passkey_disabled');
const customProvidersDisabled = () =>
  new AuthError('feature_disabled', 'Custom OAuth providers are disabled');

/** GoTrue's routes of features restauth does not have (internal/api/api.go), each with GoTrue's refusal. */
export const DISABLED_ROUTES: readonly DisabledRoute[] = [
  { method: 'POST', url: '/sso', summary: 'SAML single sign-on', caller: 'anyone', refusal: samlDisabled },
  {
    method: 'GET',
    url: '/sso/saml/metadata',
    summary: 'SAML service provider metadata',
    caller: 'anyone',
    refusal: samlDisabled,
  },
  {
    method: 'POST',
    url: '/sso/saml/acs',
    summary: 'SAML assertion consumer',
    caller: 'anyone',
    refusal: samlDisabled,
  },
  {
    method: 'GET',
    url: '/admin/sso/providers',
    summary: 'List SAML providers',
    caller: 'admin',
    refusal: samlDisabled,
  },
  {
    method: 'POST',
    url: '/admin/sso/providers',
    summary: 'Add a SAML provider',
    caller: 'admin',
    refusal: samlDisabled,
  },
  {
    method: 'GET',
    url: '/admin/sso/providers/:id',
    summary: 'A SAML provider',
    caller: 'admin',
    refusal: samlDisabled,
  },
  {
    method: 'PUT',
    url: '/admin/sso/providers/:id',
    summary: 'Change a SAML provider',
    caller: 'admin',
    refusal: samlDisabled,
  },
  {
    method: 'DELETE',
    url: '/admin/sso/providers/:id',
    summary: 'Remove a SAML provider',
    caller: 'admin',
    refusal: samlDisabled,
  },
  {
    method: 'POST',
    url: '/factors',
    summary: 'Enroll an MFA factor',
    caller: 'user',
    refusal: () => new AuthError('mfa_totp_enroll_not_enabled'),
  },
  {
    method: 'POST',
    url: '/factors/:id/challenge',
    summary: 'Challenge an MFA factor',
    caller: 'user',
    refusal: factorNotFound,
  },
  {
    method: 'POST',
    url: '/factors/:id/verify',
    summary: 'Verify an MFA challenge',
    caller: 'user',
    refusal: factorNotFound,
  },
  {
    method: 'DELETE',
    url: '/factors/:id',
    summary: 'Unenroll an MFA factor',
    caller: 'user',
    refusal: factorNotFound,
  },
  {
    method: 'POST',
    url: '/passkeys/authentication/options',
    summary: 'Passkey sign-in options',
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'POST',
    url: '/passkeys/authentication/verify',
    summary: 'Passkey sign-in',
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'POST',
    url: '/passkeys/registration/options',
    summary: 'Passkey registration options',
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'POST',
    url: '/passkeys/registration/verify',
    summary: 'Register a passkey',
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'GET',
    url: '/passkeys',
    summary: "The user's passkeys",
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'PATCH',
    url: '/passkeys/:id',
    summary: 'Rename a passkey',
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'DELETE',
    url: '/passkeys/:id',
    summary: 'Remove a passkey',
    caller: 'anyone',
    refusal: passkeysDisabled,
  },
  {
    method: 'GET',
    url: '/admin/users/:id/passkeys',
    summary: "A user's passkeys",
    caller: 'admin',
    refusal: passkeysDisabled,
  },
  {
    method: 'DELETE',
    url: '/admin/users/:id/passkeys/:passkeyId',
    summary: "Remove a user's passkey",
    caller: 'admin',
    refusal: passkeysDisabled,
  },
  {
    method: 'GET',
    url: '/.well-known/oauth-authorization-server',
    summary: 'OAuth server metadata',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/oauth/authorize',
    summary: 'OAuth server: authorize',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'POST',
    url: '/oauth/token',
    summary: 'OAuth server: token',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/oauth/userinfo',
    summary: 'OAuth server: userinfo',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'POST',
    url: '/oauth/clients/register',
    summary: 'OAuth server: register a client',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/oauth/authorizations/:id',
    summary: 'OAuth server: an authorization',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'POST',
    url: '/oauth/authorizations/:id/consent',
    summary: 'OAuth server: consent',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/user/oauth/grants',
    summary: "The user's OAuth grants",
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'DELETE',
    url: '/user/oauth/grants',
    summary: 'Revoke an OAuth grant',
    caller: 'anyone',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/admin/oauth/clients',
    summary: 'OAuth server: list clients',
    caller: 'admin',
    refusal: oauthServerDisabled,
  },
  {
    method: 'POST',
    url: '/admin/oauth/clients',
    summary: 'OAuth server: add a client',
    caller: 'admin',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/admin/oauth/clients/:id',
    summary: 'OAuth server: a client',
    caller: 'admin',
    refusal: oauthServerDisabled,
  },
  {
    method: 'PUT',
    url: '/admin/oauth/clients/:id',
    summary: 'OAuth server: change a client',
    caller: 'admin',
    refusal: oauthServerDisabled,
  },
  {
    method: 'DELETE',
    url: '/admin/oauth/clients/:id',
    summary: 'OAuth server: remove a client',
    caller: 'admin',
    refusal: oauthServerDisabled,
  },
  {
    method: 'POST',
    url: '/admin/oauth/clients/:id/regenerate_secret',
    summary: "OAuth server: a client's new secret",
    caller: 'admin',
    refusal: oauthServerDisabled,
  },
  {
    method: 'GET',
    url: '/admin/custom-providers',
    summary: 'List custom OAuth providers',
    caller: 'admin',
    refusal: customProvidersDisabled,
  },
  {
    method: 'POST',
    url: '/admin/custom-providers',
    summary: 'Add a custom OAuth provider',
    caller: 'admin',
    refusal: customProvidersDisabled,
  },
  {
    method: 'GET',
    url: '/admin/custom-providers/:id',
    summary: 'A custom OAuth provider',
    caller: 'admin',
    refusal: customProvidersDisabled,
  },
  {
    method: 'PUT',
    url: '/admin/custom-providers/:id',
    summary: 'Change a custom OAuth provider',
    caller: 'admin',
    refusal: customProvidersDisabled,
  },
  {
    method: 'DELETE',
    url: '/admin/custom-providers/:id',
    summary: 'Remove a custom OAuth provider',
    caller: 'admin',
    refusal: customProvidersDisabled,
  },
];

export const disabledFeatureRoutes: FastifyPluginAsync<GotrueOptions> = async (app, options) => {
  const callers = {
    anyone: undefined,
    user: async (request: FastifyRequest) => void (await requireUser(options.auth, request)),
    admin: async (request: FastifyRequest) => requireAdmin(options, request),
  };

  // SCIM: GoTrue's /scim/v2 router refuses every method and path beneath it before anything else
  // (requireScimServerEnabled runs before its routes and its not-found handler), so does this, before
  // the body is parsed: a SCIM client's application/scim+json gets the refusal, not a 415.
  for (const url of ['/scim/v2', '/scim/v2/*']) {
    app.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url,
      schema: { hide: true },
      onRequest: async () => {
        throw new AuthError('feature_disabled', 'SCIM server is disabled');
      },
      handler: async () => undefined,
    });
  }
  for (const route of DISABLED_ROUTES) {
    // The admin API's routes exist only where role tokens can be trusted (see GotrueOptions.adminApi).
    if (route.caller === 'admin' && !options.settings.adminApi) continue;
    const preHandler = callers[route.caller];
    const refusal = route.refusal;
    app.route({
      method: route.method,
      url: route.url,
      schema: {
        // A body is taken and not read: whatever a client sends, the answer is the refusal.
        ...(['POST', 'PUT', 'PATCH'].includes(route.method) ? { body: AnyBody } : {}),
        ...(route.ofUser ? { params: UserIdParams } : {}),
      },
      ...(preHandler ? { preHandler } : {}),
      handler: async (request: FastifyRequest) => {
        if (route.ofUser) {
          const { id } = request.params as { id: string };
          await onAdminUserId(id, () => options.admin.getUser(id));
        }
        throw refusal();
      },
    });
  }
};
