import type { FastifyPluginAsync } from 'fastify';
import { AuthError } from '../../../core/errors.js';
import { failingChecks, OUTAGE_RETRY_AFTER_SECONDS } from '../../../core/ports/readiness.js';
import type { GotrueOptions } from './context.js';

/** The routes clients call before signing in: settings, health and the public keys. */
export const metaRoutes: FastifyPluginAsync<GotrueOptions> = async (app, { tokens, settings, readiness }) => {
  app.get('/settings', async () => ({
    external: { email: true, phone: false, anonymous_users: settings.anonymousUsers },
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
    return tokens.jwks();
  });
};
