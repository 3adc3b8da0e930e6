import type { ProviderDefinition } from '../provider.js';
import { apple } from './apple.js';
import { azure } from './azure.js';
import { discord } from './discord.js';
import { github } from './github.js';
import { gitlab } from './gitlab.js';
import { google } from './google.js';

/**
 * The presets: providers restauth knows by name (GoTrue's github, google, gitlab, azure, discord,
 * apple, ...), each one ProviderDefinition in a file of this folder. A configured name that is
 * not here is a generic OIDC provider (core/oauth/generic-oidc.ts) when it has an issuer.
 */
export const PRESETS: ReadonlyMap<string, ProviderDefinition> = new Map<string, ProviderDefinition>(
  [apple, azure, discord, github, gitlab, google].map((preset) => [preset.name, preset]),
);
