import { genericOidcProvider } from './generic-oidc.js';
import type { ProviderDefinition, ProviderSettings } from './provider.js';
import { PRESETS } from './providers/index.js';
import { providerSettings, type ExternalProviderInput } from './settings.js';

/** An enabled provider: what it is and how this deployment configured it. */
export interface ConfiguredProvider {
  definition: ProviderDefinition;
  settings: ProviderSettings;
}

/** A provider configuration that cannot work; the composition root reports it as a ConfigError. */
export class ProviderConfigError extends Error {
  override readonly name = 'ProviderConfigError';
}

/**
 * The enabled providers of the configuration, by name (lower case, as GoTrue looks them up).
 * A name that is neither a preset nor given an issuer (keycloak: a url) stops the start naming
 * the key, as does an enabled provider without a client id.
 */
export function configuredProviders(
  external: Readonly<Record<string, ExternalProviderInput>>,
  callbackUrl: string,
): ReadonlyMap<string, ConfiguredProvider> {
  const providers = new Map<string, ConfiguredProvider>();
  for (const [configuredName, config] of Object.entries(external)) {
    if (config.enabled !== true) continue;
    const name = configuredName.toLowerCase();
    const settings = providerSettings(name, config, callbackUrl);
    const definition =
      PRESETS.get(name) ??
      (settings.issuer !== null || (name === 'keycloak' && settings.url !== null)
        ? genericOidcProvider(name)
        : null);
    if (definition === null) {
      throw new ProviderConfigError(
        `external.${configuredName}: no provider of that name is known; give it an issuer (a generic OpenID Connect provider) or use one of: ${[...PRESETS.keys(), 'keycloak'].join(', ')}`,
      );
    }
    if (settings.clientIds.length === 0) {
      throw new ProviderConfigError(`external.${configuredName}.client_id is needed to enable the provider`);
    }
    providers.set(name, { definition, settings });
  }
  return providers;
}
