import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import Provider, { type OidcContext } from 'oidc-provider';

/**
 * A real OpenID Connect identity provider in the test process: oidc-provider
 * (panva), listening on a port of its own, with one confidential client and
 * accounts the test defines. Its login needs no typing: the interaction logs
 * in the account named by `loginAs` (the consent is given once per account),
 * so fetch or a browser can go through the whole redirect dance. Its keys are
 * the test's, so a test can also sign id_tokens as it would (signInWithIdToken)
 * or with another key (a forgery).
 */
export interface TestIdp {
  /** The issuer (http://127.0.0.1:PORT unless another was given), its id_tokens' `iss`. */
  issuer: string;
  /** Where it listens (http://127.0.0.1:PORT): discovery at /.well-known/openid-configuration, /auth, /token, /jwks. */
  origin: string;
  clientId: string;
  clientSecret: string;
  /** The claims of each account, by its id (the `sub`). */
  accounts: Map<string, Record<string, unknown>>;
  /** The account the next login signs in as. */
  loginAs(accountId: string): void;
  /** An id_token for the client, signed with the IdP's key unless `key` is another. */
  idToken(
    claims: JWTPayload,
    options?: { key?: CryptoKey; kid?: string; expiresIn?: string },
  ): Promise<string>;
  /** The IdP's userinfo for an access token it issued (its `sub` ...), or null when it refuses the token. */
  userinfo(accessToken: string): Promise<Record<string, unknown> | null>;
  /** A private key that is not the IdP's (a forger's), with the IdP's kid. */
  forgerKey(): Promise<CryptoKey>;
  close(): Promise<void>;
}

const DEFAULT_KID = 'test-idp-key';

export async function startOidcProvider(options: {
  redirectUris: string[];
  port?: number;
  /** Another issuer identifier than its own address (a tenant of login.microsoftonline.com reached through a test fetch). */
  issuer?: string;
  /** Whether authorization requests must carry a PKCE challenge (default true). */
  pkceRequired?: boolean;
  /** Its signing key's id (default test-idp-key): two IdPs whose keys one JWKS publishes need two. */
  kid?: string;
}): Promise<TestIdp> {
  const KID = options.kid ?? DEFAULT_KID;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
  const accounts = new Map<string, Record<string, unknown>>();
  let nextLogin: string | null = null;
  const clientId = 'restauth-test';
  const clientSecret = 'restauth-test-secret-0123456789abcdef';

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = options.issuer ?? origin;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    findAccount: (_ctx: unknown, id: string) => {
      const claims = accounts.get(id);
      if (claims === undefined) return undefined;
      return { accountId: id, claims: () => ({ sub: id, ...claims }) };
    },
    claims: {
      // Entra ID's tenant id (`tid`) rides with openid, as Entra sends it.
      openid: ['sub', 'tid'],
      email: ['email', 'email_verified'],
      profile: ['name', 'picture', 'preferred_username'],
    },
    // Profile claims in the id_token too (restauth also reads userinfo; signInWithIdToken has only this).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // The test's own client: consent is implied, as for a first-party app.
    loadExistingGrant: async (ctx: OidcContext) => {
      const { client, session, result } = ctx.oidc;
      if (client === undefined || session?.accountId === undefined) return undefined;
      const grantId = result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId !== undefined) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    cookies: { keys: ['test-idp-cookie-key-0123456789'] },
    // Stated, so oidc-provider does not announce its defaults on every start.
    ttl: { Interaction: 600, Grant: 3600, Session: 3600, AccessToken: 600, IdToken: 600 },
    pkce: { required: () => options.pkceRequired ?? true },
    // A refresh token with every code (as providers asked for offline access give one): restauth passes it on.
    issueRefreshToken: () => true,
  });
  const handle = provider.callback();
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      void (async () => {
        try {
          await provider.interactionDetails(req, res);
          if (nextLogin === null) throw new Error('the test named no account to log in (loginAs)');
          await provider.interactionFinished(
            req,
            res,
            { login: { accountId: nextLogin } },
            { mergeWithLastSubmission: false },
          );
        } catch (error) {
          res.statusCode = 500;
          res.end(String(error));
        }
      })();
      return;
    }
    handle(req, res);
  });

  return {
    issuer,
    origin,
    clientId,
    clientSecret,
    accounts,
    loginAs(accountId) {
      nextLogin = accountId;
    },
    async idToken(claims, signing = {}) {
      const now = Math.floor(Date.now() / 1000);
      // The claims given win: a test forges an issuer, an audience or an expiry by naming it.
      return new SignJWT({ iss: issuer, aud: clientId, iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: signing.kid ?? KID })
        .sign(signing.key ?? privateKey);
    },
    async userinfo(accessToken) {
      const response = await fetch(`${origin}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      if (!response.ok) {
        await response.arrayBuffer();
        return null;
      }
      return (await response.json()) as Record<string, unknown>;
    },
    async forgerKey() {
      return (await generateKeyPair('RS256')).privateKey;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A browser's cookies, by origin then name (paths and expiry are not kept: a test's flows are short). */
export type CookieJar = Map<string, Map<string, string>>;

/** The Cookie header `jar` sends to `url`'s origin. */
export function cookieHeader(jar: CookieJar, url: URL): string {
  return [...(jar.get(url.origin) ?? [])].map(([name, value]) => `${name}=${value}`).join('; ');
}

/** Keeps the cookies `response` (from `url`) sets in `jar`; one set with Max-Age=0 goes. */
export function keepCookies(jar: CookieJar, url: URL, response: Response): void {
  const cookies = jar.get(url.origin) ?? new Map<string, string>();
  for (const line of response.headers.getSetCookie()) {
    const [pair = ''] = line.split(';');
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    if (/;\s*max-age=0\b/iu.test(line)) cookies.delete(name);
    else cookies.set(name, pair.slice(at + 1).trim());
  }
  jar.set(url.origin, cookies);
}

/** `browser` opens `at` (restauth's /authorize or callback): the answer, not followed, its cookies kept. */
export async function openIn(browser: CookieJar, at: URL): Promise<Response> {
  const response = await fetch(at, { redirect: 'manual', headers: { cookie: cookieHeader(browser, at) } });
  keepCookies(browser, at, response);
  await response.arrayBuffer();
  return response;
}

/**
 * What a browser does with redirects, for fetch: follows them from `start`, keeping each origin's
 * cookies (in `jar`: a test that goes on as the same browser passes its own), until one leads to
 * `stop` (the app's origin, which is not served, or a test of the address); returns that address.
 */
export async function followRedirects(
  start: string,
  stop: string | ((url: URL) => boolean),
  limit = 15,
  jar: CookieJar = new Map(),
): Promise<URL> {
  const stopsAt = typeof stop === 'string' ? (url: URL) => url.origin === stop : stop;
  let url = new URL(start);
  for (let hop = 0; hop < limit; hop++) {
    if (hop > 0 && stopsAt(url)) return url;
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(jar, url) } });
    keepCookies(jar, url, response);
    const location = response.headers.get('location');
    await response.arrayBuffer();
    if (location === null) throw new Error(`${url.href} answered ${response.status} without a redirect`);
    url = new URL(location, url);
  }
  throw new Error(`more than ${limit} redirects from ${start}`);
}

/**
 * Where linkIdentity's JSON address leads the browser: restauth's /authorize/continue step (which
 * binds the flow to the browser that follows it, identities.oauthBrowserBinding) names the provider's
 * address in `to`; without binding the address is the provider's own.
 */
export function providerAddressOf(linkAddress: string): string {
  const address = new URL(linkAddress);
  if (!address.pathname.endsWith('/authorize/continue')) return linkAddress;
  const to = address.searchParams.get('to');
  if (to === null) throw new Error(`a continue address without its provider address: ${linkAddress}`);
  return to;
}
