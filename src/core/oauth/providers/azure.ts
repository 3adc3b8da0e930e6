import type { OidcProviderDefinition, ProviderClaims, ProviderSettings } from '../provider.js';
import { baseUrl, fields, present, text } from './values.js';

/**
 * Microsoft Entra ID (Azure AD), as GoTrue's provider/azure.go: OpenID
 * Connect at login.microsoftonline.com, `common` (any tenant and personal
 * accounts) unless `url` names a tenant
 * (https://login.microsoftonline.com/<tenant>) or an Entra External ID
 * (CIAM) tenant (https://<name>.ciamlogin.com/<tenant>). Only the id_token is
 * read, never userinfo. An address counts as verified as GoTrue decides:
 * when the token has `xms_edov` (the domain owner verified it, sent as true,
 * "1" or "true"), by that; without it, an address is taken as verified,
 * since Entra sends unverified addresses only to single-tenant apps that did
 * not ask for `xms_edov`. `upn` and `preferred_username` are never an
 * address to sign in with: a user can set them to anything in their tenant.
 */

const AZURE_COMMON = 'https://login.microsoftonline.com/common';
const AZURE_ISSUER = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0\/?$/u;
const CIAM_ISSUER = /^https:\/\/[a-z0-9-]+\.ciamlogin\.com\/([^/]+)\/v2\.0\/?$/u;
const MULTI_TENANT = new Set([
  'https://login.microsoftonline.com/common/v2.0',
  'https://login.microsoftonline.com/organizations/v2.0',
]);

/** Claims that are the token's machinery, not the user's: left out of custom_claims (as GoTrue). */
const NOT_CUSTOM = new Set([
  'aud',
  'iss',
  'iat',
  'nbf',
  'exp',
  'c_hash',
  'at_hash',
  'aio',
  'nonce',
  'rh',
  'uti',
  'jti',
  'ver',
  'sub',
  'name',
  'preferred_username',
]);

/**
 * The one issuer a tenant-specific `url` allows, or null when any Entra tenant may sign in (no
 * `url`, `common` or `organizations`, or a `url` that is no Entra address, such as a test server's).
 */
export function azureExpectedIssuer(url: string | null): string | null {
  if (url === null) return null;
  const expected = `${baseUrl(url, AZURE_COMMON)}/v2.0`;
  if (MULTI_TENANT.has(expected)) return null;
  return AZURE_ISSUER.test(expected) || CIAM_ISSUER.test(expected) ? expected : null;
}

/**
 * Whether an id_token's `iss` may sign in: the configured tenant's issuer only, when `url` names
 * one; else an Entra tenant's (a CIAM tenant's only when `url` is one). A configured `issuer`
 * (tests) is the one accepted.
 */
export function azureAcceptsIssuer(iss: string, settings: Pick<ProviderSettings, 'url' | 'issuer'>): boolean {
  if (settings.issuer !== null) return iss === settings.issuer;
  const expected = azureExpectedIssuer(settings.url);
  if (expected !== null) return iss === expected;
  return AZURE_ISSUER.test(iss);
}

/** `xms_edov` as Entra sends it: a boolean, or the strings "1" and "true". */
function domainOwnerVerified(value: unknown): boolean {
  return value === true || value === '1' || value === 'true';
}

/** The claims of an Entra id_token. */
export function azureClaims(idToken: Readonly<Record<string, unknown>>): ProviderClaims {
  const subject = text(idToken['sub']);
  if (subject === null) throw new Error('azure: the id_token has no sub');
  const email = text(idToken['email']);
  const edov = idToken['xms_edov'];
  const emailVerified = email !== null && (edov === undefined || edov === null || domainOwnerVerified(edov));
  const name = text(idToken['name']);
  const custom = Object.fromEntries(Object.entries(fields(idToken)).filter(([key]) => !NOT_CUSTOM.has(key)));
  return {
    subject,
    email,
    emailVerified,
    name,
    avatarUrl: null,
    extra: present({
      iss: text(idToken['iss']),
      provider_id: subject,
      preferred_username: text(idToken['preferred_username']),
      full_name: name,
      custom_claims: Object.keys(custom).length > 0 ? custom : null,
    }),
  };
}

export const azure: OidcProviderDefinition = {
  flavour: 'oidc',
  name: 'azure',
  defaultScopes: ['openid'],
  pkce: false,
  issuer: (settings) => settings.issuer ?? `${baseUrl(settings.url, AZURE_COMMON)}/v2.0`,
  acceptsIssuer: azureAcceptsIssuer,
  // GoTrue reads the id_token only: Entra's userinfo is Microsoft Graph's, for Graph access tokens.
  userinfo: false,
  claims: (idToken) => azureClaims(idToken),
};
