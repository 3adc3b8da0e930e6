import type { ProviderDefinition } from '../provider.js';

/**
 * The presets: providers restauth knows by name (GoTrue's github, google, gitlab, azure, discord,
 * apple, ...), each one ProviderDefinition in a file of this folder. A configured name that is
 * not here is a generic OIDC provider (core/oauth/generic-oidc.ts) when it has an issuer.
 */
export const PRESETS: ReadonlyMap<string, ProviderDefinition> = new Map<string, ProviderDefinition>([]);
