import type { OidcProviderDefinition, ProviderClaims, ProviderSettings } from '../provider.js';
import { fields, present, text } from './values.js';

/**
 * Sign in with Apple, as GoTrue's provider/apple.go: OpenID Connect at
 * https://appleid.apple.com (its id_tokens also come from
 * https://account.apple.com), asked for `email` and `name` with
 * `response_mode=form_post`, so Apple answers the callback with a POST. Apple
 * hands out only addresses it verified (a user's own, or a private relay
 * address), so GoTrue counts the address verified; whether it is a relay
 * (`is_private_email`, a boolean or a string), `auth_time` and
 * `transfer_sub` are kept in custom_claims. `issuer` points the preset
 * elsewhere (tests); `url` is ignored, as GoTrue ignores it.
 */

export const APPLE_ISSUER = 'https://appleid.apple.com';
const APPLE_ISSUERS = new Set([APPLE_ISSUER, 'https://account.apple.com']);

/** Apple's `is_private_email`: a boolean, or the text of one. */
function privateEmail(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return null;
}

/** The claims of an Apple id_token. */
export function appleClaims(idToken: Readonly<Record<string, unknown>>): ProviderClaims {
  const subject = text(idToken['sub']);
  if (subject === null) throw new Error('apple: the id_token has no sub');
  const email = text(idToken['email']);
  const custom = present({
    is_private_email: privateEmail(idToken['is_private_email']),
    auth_time: typeof idToken['auth_time'] === 'number' ? idToken['auth_time'] : null,
    transfer_sub: text(idToken['transfer_sub']),
  });
  return {
    subject,
    email,
    emailVerified: email !== null,
    name: null,
    avatarUrl: null,
    extra: present({
      iss: text(idToken['iss']),
      provider_id: subject,
      custom_claims: Object.keys(custom).length > 0 ? custom : null,
    }),
  };
}

/**
 * Apple's first callback of a user: the `user` form field, JSON with the name the user gave
 * (`{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"…"}`), which Apple sends only
 * then and puts in no token. Its name is taken as GoTrue's ParseUser takes it (first and last,
 * trimmed); its email never: the field is unsigned, the id_token's address is the one. A field
 * that is not such JSON changes nothing (GoTrue fails the sign-in; a name is not worth it).
 */
export function appleCallbackClaims(callback: URLSearchParams, claims: ProviderClaims): ProviderClaims {
  const field = callback.get('user');
  if (field === null || field === '') return claims;
  let user: unknown;
  try {
    user = JSON.parse(field);
  } catch {
    return claims;
  }
  const name = fields(fields(user)['name']);
  const full = [text(name['firstName']), text(name['lastName'])]
    .filter((part) => part !== null)
    .join(' ')
    .trim();
  return full === '' ? claims : { ...claims, name: full };
}

export const apple: OidcProviderDefinition = {
  flavour: 'oidc',
  name: 'apple',
  defaultScopes: ['email', 'name'],
  pkce: false,
  authorizationParams: { response_mode: 'form_post' },
  issuer: (settings) => settings.issuer ?? APPLE_ISSUER,
  acceptsIssuer: (iss: string, settings: ProviderSettings) =>
    settings.issuer !== null ? iss === settings.issuer : APPLE_ISSUERS.has(iss),
  claims: (idToken) => appleClaims(idToken),
  callbackClaims: appleCallbackClaims,
};
