/**
 * What an OAuth 2.0 or OpenID Connect identity provider is to restauth: how
 * a user is sent to it, and how what it answers becomes the normalized
 * ProviderClaims that sign-in (core/oauth/sign-in.ts) works with.
 *
 * Two flavours, as GoTrue's providers (internal/api/provider):
 * - `oauth2`: fixed authorize and token endpoints, then the user read from
 *   the provider's API with its access token (GitHub's /user and /user/emails).
 * - `oidc`: an issuer whose endpoints and keys are found by discovery
 *   (/.well-known/openid-configuration); the user is the id_token, verified
 *   against the issuer's JWKS, nonce and audience checked.
 *
 * A preset (src/core/oauth/providers/*) is one ProviderDefinition; what a
 * deployment configures (client id, secret, its own URL) arrives as
 * ProviderSettings. Nothing here makes a request: core/oauth/client.ts does.
 */

/** A provider's configuration (external.<name>, GOTRUE_EXTERNAL_<NAME>_*), read by core/oauth/settings.ts. */
export interface ProviderSettings {
  /** The name clients use (`provider=github`) and the identities' `provider`. */
  name: string;
  /** The client ids at the provider: the first one signs in; each is an accepted id_token audience. */
  clientIds: readonly string[];
  /** The client secret; null for a public client. */
  secret: string | null;
  /** The callback registered at the provider (restauth's GET /callback). */
  redirectUri: string;
  /** The provider's own address where it has several (self-hosted GitLab, a Keycloak realm); null: the preset's. */
  url: string | null;
  /** The provider's API address where it differs from `url`; null: the preset's. */
  apiUrl: string | null;
  /** A generic OIDC provider's issuer; null for presets. */
  issuer: string | null;
  /** signInWithIdToken accepts an id_token without a nonce (GoTrue's skip_nonce_check). */
  skipNonceCheck: boolean;
  /** A user without an email address at the provider still signs in (GoTrue's email_optional). */
  emailOptional: boolean;
}

/**
 * The user as a provider describes it, normalized. GoTrue keeps the same facts
 * in identity_data and user_metadata (provider.Claims): core/oauth/identity-data.ts
 * writes them under GoTrue's names.
 */
export interface ProviderClaims {
  /** The user's stable id at the provider (`sub`; GitHub's numeric id as a string). */
  subject: string;
  /** The address the provider gives (its primary one), or null. */
  email: string | null;
  /** Whether the provider says it verified that address: only a verified one joins an existing account. */
  emailVerified: boolean;
  name: string | null;
  avatarUrl: string | null;
  /**
   * More of what the provider said, kept in identity_data under GoTrue's names as given:
   * `preferred_username`, `user_name`, `nickname`, `slug`, `custom_claims`, ...
   */
  extra: Record<string, unknown>;
}

/** What the provider's token endpoint answered. */
export interface ProviderTokens {
  accessToken: string;
  refreshToken: string | null;
  /** OIDC: the id_token, already verified (signature, issuer, audience, expiry, nonce) by the client. */
  idToken: string | null;
}

/** An authenticated JSON GET against the provider's API, for OAuth2 providers reading their user. */
export interface ProviderHttp {
  /** GETs `url` with `Authorization: Bearer <accessToken>` (and `headers`); a non-2xx answer throws. */
  getJson(url: string, accessToken: string, headers?: Readonly<Record<string, string>>): Promise<unknown>;
}

interface ProviderDefinitionBase {
  /** The preset's name (`github`); a generic OIDC provider takes its configured name. */
  name: string;
  /** Scopes always asked for (GoTrue's defaults for the provider); the app's `scopes` are added. */
  defaultScopes: readonly string[];
  /** Whether restauth sends a PKCE challenge to the provider (GoTrue's RequiresPKCE). */
  pkce: boolean;
  /** Query parameters added to the authorization request (e.g. Google's `access_type`). */
  authorizationParams?: Readonly<Record<string, string>>;
}

export interface OAuth2ProviderDefinition extends ProviderDefinitionBase {
  flavour: 'oauth2';
  /** Where users authorize and codes are exchanged, for these settings (`url` may move them). */
  endpoints(settings: ProviderSettings): { authorization: string; token: string };
  /** Reads the signed-in user with the provider's access token. */
  readUser(tokens: ProviderTokens, http: ProviderHttp, settings: ProviderSettings): Promise<ProviderClaims>;
}

export interface OidcProviderDefinition extends ProviderDefinitionBase {
  flavour: 'oidc';
  /** The issuer: discovery at `<issuer>/.well-known/openid-configuration`, and id_tokens' `iss`. */
  issuer(settings: ProviderSettings): string;
  /**
   * Whether an id_token's `iss` is this provider's, where that is not the discovered issuer alone
   * (Azure's multi-tenant `{tenantid}`); absent: only the issuer itself.
   */
  acceptsIssuer?(iss: string, settings: ProviderSettings): boolean;
  /** Whether the callback also reads the discovered userinfo endpoint (default true); false: the id_token alone. */
  userinfo?: boolean;
  /** The user of a verified id_token's claims. */
  claims(idToken: Readonly<Record<string, unknown>>, settings: ProviderSettings): ProviderClaims;
  /**
   * What the callback's own parameters add to those claims (Apple's `user` form field, the name
   * it sends once); unsigned, so never an address or anything that decides who signs in.
   */
  callbackClaims?(callback: URLSearchParams, claims: ProviderClaims): ProviderClaims;
}

export type ProviderDefinition = OAuth2ProviderDefinition | OidcProviderDefinition;

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * The standard OpenID Connect claims (OIDC Core §5.1) as ProviderClaims, as GoTrue's generic
 * mapping reads them: `email_verified` true only when the provider says so (a boolean, or the
 * string "true" some providers send).
 */
export function standardOidcClaims(claims: Readonly<Record<string, unknown>>): ProviderClaims {
  const subject = text(claims['sub']);
  if (subject === null) throw new Error('the id_token has no sub');
  const verified = claims['email_verified'];
  const extra: Record<string, unknown> = {};
  for (const key of ['preferred_username', 'nickname', 'given_name', 'family_name', 'locale']) {
    const value = text(claims[key]);
    // eslint-disable-next-line no-restricted-syntax -- key is one of the fixed names above
    if (value !== null) extra[key] = value;
  }
  return {
    subject,
    email: text(claims['email']),
    emailVerified: verified === true || verified === 'true',
    name: text(claims['name']),
    avatarUrl: text(claims['picture']),
    extra,
  };
}
