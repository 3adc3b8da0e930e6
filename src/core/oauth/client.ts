import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type * as openIdClientModule from 'openid-client';
import { AuthError } from '../errors.js';
import {
  ProviderAnswerBudget,
  ProviderAnswerTooLarge,
  sizeBoundedFetch,
  type ProviderFetch,
} from './bounded-fetch.js';
import type { OAuthCallbackRefusal } from '../ports/events.js';
import type { OAuthFlowSecrets } from './flows.js';
import type {
  ProviderClaims,
  ProviderDefinition,
  ProviderHttp,
  ProviderSettings,
  ProviderTokens,
} from './provider.js';
import type { ConfiguredProvider } from './registry.js';

// Types only (erased): the library itself is imported at the first use, see openIdClient().
type OpenIdClient = typeof openIdClientModule;
type ClientConfiguration = openIdClientModule.Configuration;

/** What the provider said at the callback: the user, and its tokens (GoTrue's provider_token). */
export interface ProviderSignIn {
  claims: ProviderClaims;
  tokens: ProviderTokens;
}

/**
 * A callback the provider's answer refused: GoTrue's unexpected_failure (500) on the wire, with
 * why for the metrics: the code exchange (the provider refused it or could not be reached), the
 * id_token (signature, issuer, audience, expiry, nonce), or the profile (userinfo, the mapping).
 */
export class ProviderAnswerRefused extends AuthError {
  constructor(
    readonly reason: Extract<OAuthCallbackRefusal, 'exchange' | 'id_token' | 'profile'>,
    message: string,
    cause: unknown,
  ) {
    super('unexpected_failure', message, { status: 500, cause });
  }
}

/** openid-client's codes of an id_token it refused (oauth4webapi's JWT checks), as against the exchange's. */
const ID_TOKEN_REFUSALS = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
]);

function exchangeRefusal(error: unknown): 'exchange' | 'id_token' {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ID_TOKEN_REFUSALS.has(code)) return 'id_token';
  // A signature that does not verify is an invalid response whose message says so.
  return error instanceof Error && /signature verification failed/u.test(error.message)
    ? 'id_token'
    : 'exchange';
}

export interface OAuthClientOptions {
  /** Seconds of clock skew allowed on a provider's id_tokens. */
  clockTolerance: number;
  /** Seconds one request to a provider may take (identities.providerTimeout; GoTrue's 10 s). */
  timeoutSeconds?: number;
  /** Bytes one answer of a provider may have (identities.providerAnswerLimit); default 1 MiB. */
  answerLimit?: number;
  /** Bytes of every provider answer being read at once (identities.providerAnswerBudget); default 32 MiB. */
  answerBudget?: number;
  /**
   * What openid-client's requests to the providers go through (discovery, token, userinfo);
   * default: fetch. Tests route a provider's public host name (login.microsoftonline.com) to a
   * real IdP in the test process, as a DNS entry would.
   */
  fetch?: openIdClientModule.CustomFetch;
}

/**
 * restauth as the client of each configured provider, through openid-client
 * (panva): OIDC discovery, the authorization URL with state, nonce and PKCE,
 * the code exchange with every check RFC 6749, 7636 and OIDC Core ask for
 * (state, issuer, audience, signature against the issuer's JWKS, expiry,
 * nonce), and the id_tokens of signInWithIdToken verified with jose against
 * the same JWKS. openid-client is imported at the first use: a server
 * without providers never loads it.
 */
export class OAuthClients {
  private library: Promise<OpenIdClient> | null = null;
  private readonly configurations = new Map<string, Promise<ClientConfiguration>>();
  private readonly keySets = new Map<string, JWTVerifyGetKey>();
  private readonly timeoutSeconds: number;
  /** openid-client's fetch (options.fetch or fetch), each answer bounded in size. */
  private readonly providerFetch: openIdClientModule.CustomFetch;
  /** fetch, each answer bounded in size: the key sets' and the OAuth2 presets' user requests. */
  private readonly plainFetch: ProviderFetch<RequestInit>;
  /** The bytes every answer being read may hold together, shared by both fetches. */
  readonly answerBudget: ProviderAnswerBudget;

  constructor(
    private readonly providers: ReadonlyMap<string, ConfiguredProvider>,
    private readonly options: OAuthClientOptions = { clockTolerance: 2 },
  ) {
    this.timeoutSeconds = options.timeoutSeconds ?? 10;
    const limit = options.answerLimit ?? 1024 * 1024;
    this.answerBudget = new ProviderAnswerBudget(options.answerBudget ?? 32 * 1024 * 1024);
    this.plainFetch = sizeBoundedFetch<RequestInit>(limit, fetch, this.answerBudget);
    this.providerFetch = sizeBoundedFetch(limit, options.fetch ?? fetch, this.answerBudget);
  }

  /** The enabled provider of that name (any case), or undefined. */
  get(name: string): ConfiguredProvider | undefined {
    return this.providers.get(name.toLowerCase());
  }

  /** The names of the enabled providers. */
  names(): string[] {
    return [...this.providers.keys()];
  }

  /** Where GET /authorize sends the user: the provider's authorization endpoint with the flow's parameters. */
  async authorizationUrl(
    provider: ConfiguredProvider,
    input: {
      state: string;
      secrets: OAuthFlowSecrets;
      /** The app's `scopes` (space-separated), added to the provider's defaults. */
      scopes: string | undefined;
      /** Further query parameters the app passes on to the provider (auth-js's queryParams). */
      params: Readonly<Record<string, string>>;
    },
  ): Promise<string> {
    const { definition, settings } = provider;
    const client = await this.openIdClient();
    const config = await this.configuration(provider);
    const scopes = new Set([...definition.defaultScopes, ...(input.scopes ?? '').split(/[\s,]+/u)]);
    scopes.delete('');
    const parameters: Record<string, string> = {
      ...input.params,
      ...definition.authorizationParams,
      response_type: 'code',
      redirect_uri: settings.redirectUri,
      scope: [...scopes].join(' '),
      state: input.state,
    };
    if (definition.flavour === 'oidc') parameters['nonce'] = input.secrets.nonce;
    if (definition.pkce) {
      parameters['code_challenge'] = await client.calculatePKCECodeChallenge(input.secrets.codeVerifier);
      parameters['code_challenge_method'] = 'S256';
    }
    return client.buildAuthorizationUrl(config, parameters).href;
  }

  /**
   * The callback: exchanges the code (with the flow's PKCE verifier), checks the answer (for OIDC
   * the id_token's signature, issuer, audience, expiry and the flow's nonce), and reads the user.
   * A provider that refuses or answers wrongly: unexpected_failure, as GoTrue's "Unable to
   * exchange external code".
   */
  async finish(
    provider: ConfiguredProvider,
    callback: URLSearchParams,
    state: string,
    secrets: OAuthFlowSecrets,
  ): Promise<ProviderSignIn> {
    const { definition, settings } = provider;
    const client = await this.openIdClient();
    const config = await this.configuration(provider);
    const currentUrl = new URL(settings.redirectUri);
    for (const [name, value] of callback) currentUrl.searchParams.set(name, value);
    let response: Awaited<ReturnType<OpenIdClient['authorizationCodeGrant']>>;
    try {
      response = await client.authorizationCodeGrant(config, currentUrl, {
        expectedState: state,
        ...(definition.pkce ? { pkceCodeVerifier: secrets.codeVerifier } : {}),
        ...(definition.flavour === 'oidc' ? { expectedNonce: secrets.nonce, idTokenExpected: true } : {}),
      });
    } catch (error) {
      throw new ProviderAnswerRefused(exchangeRefusal(error), 'Unable to exchange external code', error);
    }
    const tokens: ProviderTokens = {
      accessToken: response.access_token,
      refreshToken: response.refresh_token ?? null,
      idToken: response.id_token ?? null,
    };
    try {
      if (definition.flavour === 'oauth2') {
        return { tokens, claims: await definition.readUser(tokens, this.http(), settings) };
      }
      const idToken = response.claims() as Record<string, unknown>;
      // Some providers put the profile in userinfo only (OIDC Core 5.4 with response_type=code):
      // the signed id_token's claims win over it; userinfo must name the same subject.
      const userinfo =
        definition.userinfo !== false && config.serverMetadata().userinfo_endpoint
          ? await client.fetchUserInfo(config, tokens.accessToken, idToken['sub'] as string)
          : {};
      const claims = definition.claims({ ...userinfo, ...idToken }, settings);
      return { tokens, claims: definition.callbackClaims?.(callback, claims) ?? claims };
    } catch (error) {
      throw new ProviderAnswerRefused('profile', 'Error getting user profile from external provider', error);
    }
  }

  /**
   * signInWithIdToken's token: its claims once its signature verifies against the provider's JWKS
   * and its issuer, audience (one of the client ids) and expiry are right; the nonce is the
   * caller's to check. Refusals are 400 validation_failed with GoTrue's words.
   */
  async verifyIdToken(provider: ConfiguredProvider, idToken: string): Promise<Record<string, unknown>> {
    const { definition, settings } = provider;
    if (definition.flavour !== 'oidc') {
      throw new AuthError('validation_failed', `Provider ${settings.name} does not issue ID tokens`);
    }
    const config = await this.configuration(provider);
    const metadata = config.serverMetadata();
    if (metadata.jwks_uri === undefined) {
      throw new AuthError('unexpected_failure', 'The provider publishes no keys', { status: 500 });
    }
    let keys = this.keySets.get(settings.name);
    if (keys === undefined) {
      keys = createRemoteJWKSet(new URL(metadata.jwks_uri), {
        timeoutDuration: this.timeoutSeconds * 1000,
        [customFetch]: this.plainFetch,
      });
      this.keySets.set(settings.name, keys);
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(idToken, keys, {
        requiredClaims: ['sub', 'exp', 'iat'],
        clockTolerance: this.options.clockTolerance,
      }));
    } catch (error) {
      if (keySetUnreachable(error)) throw providerUnreachable(error);
      throw new AuthError('validation_failed', 'Bad ID token', { cause: error });
    }
    const issuer = payload['iss'];
    const issuerAccepted =
      typeof issuer === 'string' &&
      (issuer === metadata.issuer || (definition.acceptsIssuer?.(issuer, settings) ?? false));
    if (!issuerAccepted) throw new AuthError('validation_failed', 'Bad ID token');
    const audience = payload['aud'];
    const audiences = Array.isArray(audience) ? audience : [audience];
    if (!audiences.some((value) => typeof value === 'string' && settings.clientIds.includes(value))) {
      throw new AuthError(
        'validation_failed',
        `Unacceptable audience in id_token: [${audiences.map(String).join(' ')}]`,
      );
    }
    return payload;
  }

  private openIdClient(): Promise<OpenIdClient> {
    this.library ??= import('openid-client');
    return this.library;
  }

  /** The provider's client configuration: discovered once for OIDC (retried after a failure). */
  private configuration(provider: ConfiguredProvider): Promise<ClientConfiguration> {
    const name = provider.settings.name;
    let pending = this.configurations.get(name);
    if (pending === undefined) {
      pending = this.configure(provider.definition, provider.settings);
      this.configurations.set(name, pending);
      // A provider down at the first use is asked again at the next one.
      pending.catch(() => this.configurations.delete(name));
    }
    return pending;
  }

  private async configure(
    definition: ProviderDefinition,
    settings: ProviderSettings,
  ): Promise<ClientConfiguration> {
    const client = await this.openIdClient();
    const clientId = settings.clientIds[0]!;
    const secret = settings.secret ?? undefined;
    const metadata = { redirect_uris: [settings.redirectUri], ...(secret ? { client_secret: secret } : {}) };
    if (definition.flavour === 'oidc') {
      const issuer = new URL(definition.issuer(settings));
      // http only reaches here for loopback hosts or in development mode (core/oauth/registry.ts).
      const insecure = issuer.protocol === 'http:';
      const discover = (auth: openIdClientModule.ClientAuth | undefined) =>
        client.discovery(issuer, clientId, metadata, auth, {
          timeout: this.timeoutSeconds,
          ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
          [client.customFetch]: this.providerFetch,
        });
      try {
        const discovered = await discover(undefined);
        const auth = clientAuthentication(client, discovered, secret);
        // Discovered again with that authentication rather than a Configuration rebuilt from
        // serverMetadata(), which loses what openid-client learnt at discovery: Entra ID's
        // multi-tenant issuer (`{tenantid}`, checked against each id_token's `tid`, as Microsoft
        // documents) became a literal issuer no token has, and every callback was refused.
        return auth === null
          ? this.withFetch(client, discovered)
          : this.withFetch(client, await discover(auth));
      } catch (error) {
        throw providerUnreachable(error);
      }
    }
    const endpoints = definition.endpoints(settings);
    const config = new client.Configuration(
      {
        issuer: new URL(endpoints.authorization).origin,
        authorization_endpoint: endpoints.authorization,
        token_endpoint: endpoints.token,
      },
      clientId,
      metadata,
      secret === undefined ? client.None() : client.ClientSecretPost(secret),
    );
    if (new URL(endpoints.token).protocol === 'http:') client.allowInsecureRequests(config);
    return this.withFetch(client, config);
  }

  /** The configuration with restauth's timeout, and the bounded fetch requests to the provider go through. */
  private withFetch(client: OpenIdClient, config: ClientConfiguration): ClientConfiguration {
    config.timeout = this.timeoutSeconds;
    // eslint-disable-next-line no-restricted-syntax -- openid-client's own symbol, no client string
    config[client.customFetch] = this.providerFetch;
    return config;
  }

  private http(): ProviderHttp {
    const timeoutMs = this.timeoutSeconds * 1000;
    const fetchAnswer = this.plainFetch;
    return {
      async getJson(url, accessToken, headers = {}) {
        const response = await fetchAnswer(url, {
          headers: { accept: 'application/json', ...headers, authorization: `Bearer ${accessToken}` },
          signal: AbortSignal.timeout(timeoutMs),
          // A profile endpoint answers, it does not redirect: one that did led restauth's request
          // (from inside its network) to any address, and took the profile found there as the user's.
          redirect: 'error',
        });
        if (!response.ok) {
          // Let go of the refusal's connection now, not at the timeout: its body is never read.
          await response.body?.cancel();
          throw new Error(`${url} answered ${response.status}`);
        }
        return response.json() as Promise<unknown>;
      },
    };
  }
}

/** A provider that did not answer in time, or not with a usable answer: 503, for the client to retry. */
function providerUnreachable(cause: unknown): AuthError {
  return new AuthError('service_unavailable', 'The identity provider cannot be reached; retry shortly', {
    retryAfter: 5,
    cause,
  });
}

/**
 * Whether jwtVerify failed on fetching the provider's key set, not on the token: its timeout, a
 * network error, or an answer that is not a key set (jose's generic error is thrown only there). A
 * token refused for itself (signature, claims, no key of its kid) is a JOSEError of its own code.
 */
function keySetUnreachable(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return true;
  if (error instanceof ProviderAnswerTooLarge) return true;
  if (error instanceof errors.JOSEError) return error.code === errors.JOSEError.code;
  return error instanceof TypeError && error.message === 'fetch failed';
}

/**
 * How restauth authenticates at a discovered provider's token endpoint, when not openid-client's
 * default (client_secret_post with a secret): none without a secret; client_secret_basic where the
 * provider lists it or lists nothing (OIDC's default, most providers'); null: the default.
 */
function clientAuthentication(
  client: OpenIdClient,
  discovered: ClientConfiguration,
  secret: string | undefined,
): openIdClientModule.ClientAuth | null {
  if (secret === undefined) return client.None();
  const methods = discovered.serverMetadata().token_endpoint_auth_methods_supported;
  return methods === undefined || methods.includes('client_secret_basic')
    ? client.ClientSecretBasic(secret)
    : null;
}
