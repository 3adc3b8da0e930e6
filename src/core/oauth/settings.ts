import type { ProviderSettings } from './provider.js';

/** One provider as configured, under GoTrue's names (config/schema.ts ExternalProviderSchema). */
export interface ExternalProviderInput {
  enabled?: boolean;
  client_id?: string | readonly string[];
  secret?: string;
  redirect_uri?: string;
  url?: string;
  api_url?: string;
  issuer?: string;
  skip_nonce_check?: boolean;
  email_optional?: boolean;
}

/**
 * A provider's configuration (external.<name>, GoTrue's names) as ProviderSettings. `callbackUrl`
 * is restauth's own GET /callback, the redirect URI unless one is configured.
 */
export function providerSettings(
  name: string,
  config: ExternalProviderInput,
  callbackUrl: string,
): ProviderSettings {
  const ids = config.client_id ?? [];
  // GoTrue's GOTRUE_EXTERNAL_<NAME>_CLIENT_ID is a comma-separated list.
  const clientIds = (typeof ids === 'string' ? ids.split(',') : ids).map((id) => id.trim()).filter(Boolean);
  return {
    name,
    clientIds,
    secret: config.secret === undefined || config.secret === '' ? null : config.secret,
    redirectUri: config.redirect_uri ?? callbackUrl,
    url: config.url ?? null,
    apiUrl: config.api_url ?? null,
    issuer: config.issuer ?? null,
    skipNonceCheck: config.skip_nonce_check ?? false,
    emailOptional: config.email_optional ?? false,
  };
}
