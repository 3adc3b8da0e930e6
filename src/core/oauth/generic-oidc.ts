import { standardOidcClaims, type OidcProviderDefinition, type ProviderSettings } from './provider.js';

/**
 * The generic OpenID Connect provider: any issuer with discovery, configured by name
 * (external.<name>.issuer), and GoTrue's `keycloak` (whose `url`, the realm's address, is its
 * issuer). Endpoints and keys come from the issuer's discovery document; the user from the
 * id_token's standard claims.
 */
export function genericOidcProvider(name: string): OidcProviderDefinition {
  return {
    flavour: 'oidc',
    name,
    defaultScopes: ['openid', 'email', 'profile'],
    pkce: true,
    issuer(settings: ProviderSettings): string {
      const issuer = settings.issuer ?? settings.url;
      if (issuer === null) throw new Error(`external.${name}: an OIDC provider needs an issuer`);
      return issuer.replace(/\/+$/u, '');
    },
    claims: (idToken) => standardOidcClaims(idToken),
  };
}
