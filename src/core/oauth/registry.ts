import { isLoopbackAddress } from '../../lib/loopback-address.js';
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

/** How plain-http provider addresses are treated: refused, or (development mode) allowed with a warning. */
export interface InsecureProviderPolicy {
  development: boolean;
  warn(message: string): void;
}

const REFUSE_INSECURE: InsecureProviderPolicy = { development: false, warn: () => {} };

/**
 * The enabled providers of the configuration, by name (lower case, as GoTrue looks them up).
 * A name that is neither a preset nor given an issuer (keycloak: a url) stops the start naming
 * the key, as does an enabled provider without a client id, or an address restauth would reach
 * its provider at over plain http (see checkProviderAddresses).
 */
export function configuredProviders(
  external: Readonly<Record<string, ExternalProviderInput>>,
  callbackUrl: string,
  insecure: InsecureProviderPolicy = REFUSE_INSECURE,
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
    checkProviderAddresses(configuredName, config, insecure);
    providers.set(name, { definition, settings });
  }
  return providers;
}

/** Where the client secret, the codes and the users' provider tokens travel: the provider's addresses. */
const ADDRESS_KEYS = ['issuer', 'url', 'api_url'] as const;

/**
 * A provider restauth talks to over plain http hands the client secret, every code and the
 * users' tokens to anyone on the way, and lets them answer as the provider (id_tokens and keys
 * included). So an http issuer, url or api_url stops the start, naming the key, unless its host
 * is a loopback address (the provider on the same machine: nothing crosses a network). Development
 * mode allows it with a warning, once at start: an IdP in a container beside restauth.
 */
function checkProviderAddresses(
  configuredName: string,
  config: ExternalProviderInput,
  insecure: InsecureProviderPolicy,
): void {
  for (const key of ADDRESS_KEYS) {
    const value = config[key];
    if (value === undefined || value === '') continue;
    const where = `external.${configuredName}.${key}`;
    let address: URL;
    try {
      address = new URL(value);
    } catch {
      throw new ProviderConfigError(`${where}: ${value} is not a URL`);
    }
    if (address.protocol === 'https:') continue;
    if (address.protocol !== 'http:') {
      throw new ProviderConfigError(`${where}: ${value} is not an https URL`);
    }
    if (isLoopback(address.hostname)) continue;
    const risk = `${where} is plain http (${address.origin}): the client secret, codes and users' provider tokens would cross the network unencrypted, and anyone on the way could answer as the provider`;
    if (!insecure.development) {
      throw new ProviderConfigError(
        `${risk}. Use https (http is allowed for loopback addresses), or development mode to allow it with a warning`,
      );
    }
    insecure.warn(`${risk}; allowed in development mode only`);
  }
}

/** localhost, 127.0.0.0/8 (also IPv4-mapped, [::ffff:7f00:1]) and ::1: the same machine. */
function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true;
  return isLoopbackAddress(hostname.replace(/^\[(.*)\]$/u, '$1'));
}
