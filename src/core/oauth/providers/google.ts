import type { OidcProviderDefinition, ProviderClaims } from '../provider.js';
import { present, text } from './values.js';

/**
 * Google, as GoTrue's provider/google.go: OpenID Connect at
 * https://accounts.google.com, the user from the verified id_token. Google
 * has said an address is verified as `email_verified` (OIDC) and as
 * `verified_email` (its older userinfo); either counts, as in GoTrue. A
 * Workspace account's domain (`hd`) is kept in custom_claims. `issuer` points
 * the preset elsewhere (tests); `url` is ignored, as GoTrue ignores it.
 */

export const GOOGLE_ISSUER = 'https://accounts.google.com';

function verified(value: unknown): boolean {
  return value === true || value === 'true';
}

/** The claims of a Google id_token. */
export function googleClaims(idToken: Readonly<Record<string, unknown>>): ProviderClaims {
  const subject = text(idToken['sub']);
  if (subject === null) throw new Error('google: the id_token has no sub');
  const email = text(idToken['email']);
  const name = text(idToken['name']);
  const picture = text(idToken['picture']);
  const hostedDomain = text(idToken['hd']);
  return {
    subject,
    email,
    emailVerified:
      email !== null && (verified(idToken['email_verified']) || verified(idToken['verified_email'])),
    name,
    avatarUrl: picture,
    extra: present({
      iss: text(idToken['iss']),
      picture,
      full_name: name,
      provider_id: subject,
      custom_claims: hostedDomain === null ? null : { hd: hostedDomain },
    }),
  };
}

export const google: OidcProviderDefinition = {
  flavour: 'oidc',
  name: 'google',
  // GoTrue asks for email and profile; openid makes Google answer the id_token restauth reads.
  defaultScopes: ['openid', 'email', 'profile'],
  pkce: false,
  issuer: (settings) => settings.issuer ?? GOOGLE_ISSUER,
  claims: (idToken) => googleClaims(idToken),
};
