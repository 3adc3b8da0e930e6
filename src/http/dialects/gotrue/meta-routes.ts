import type { FastifyPluginAsync } from 'fastify';
import { AuthError } from '../../../core/errors.js';
import { failingChecks, OUTAGE_RETRY_AFTER_SECONDS } from '../../../core/ports/readiness.js';
import type { GotrueOptions } from './context.js';

/**
 * The providers GoTrue's GET /settings always names (internal/api/settings.go ProviderSettings), each
 * true when enabled: apps read `external.github` to decide which buttons to show.
 */
const GOTRUE_PROVIDERS = [
  'apple',
  'azure',
  'bitbucket',
  'discord',
  'facebook',
  'snapchat',
  'figma',
  'fly',
  'github',
  'gitlab',
  'google',
  'keycloak',
  'kakao',
  'linkedin',
  'linkedin_oidc',
  'notion',
  'spotify',
  'slack',
  'slack_oidc',
  'workos',
  'twitch',
  'twitter',
  'zoom',
];

/** The routes clients call before signing in: settings, health and the public keys. */
export const metaRoutes: FastifyPluginAsync<GotrueOptions> = async (
  app,
  { tokens, settings, readiness, clock },
) => {
  const enabled = new Set(settings.enabledProviders);
  // A generic OIDC provider's own name is listed too, after GoTrue's: a client may look for it.
  const external = Object.fromEntries([
    ['anonymous_users', settings.anonymousUsers],
    ...[...new Set([...GOTRUE_PROVIDERS, ...enabled])].map((name) => [name, enabled.has(name)]),
    ['email', true],
    ['phone', false],
  ]) as Record<string, boolean>;
  app.get('/settings', async () => ({
    external,
    disable_signup: !settings.signupEnabled,
    mailer_autoconfirm: !settings.confirmEmail,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  }));

  // Honest: GoTrue's health fails while its database does, and so does this one (see /ready).
  app.get('/health', async () => {
    const report = await readiness();
    if (!report.ready) {
      throw new AuthError('service_unavailable', `Not ready (${failingChecks(report)})`, {
        retryAfter: OUTAGE_RETRY_AFTER_SECONDS,
      });
    }
    return {
      name: 'restauth',
      version: process.env['npm_package_version'] ?? 'unknown',
      description: 'restauth speaks the Supabase Auth (GoTrue) API',
    };
  });

  // Public keys only: an HS256 secret never appears here.
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    void reply.header('Cache-Control', 'public, max-age=600');
    return tokens.jwks(clock());
  });
};
