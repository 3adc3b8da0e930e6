import { after, before } from 'node:test';
import type { TestApp } from './app.js';
import { onFreePort } from './free-port.js';
import { listen, startMailingApp, stopMailingApp } from './gotrue.js';
import { suiteStore } from './postgres.js';
import { startOAuth2Server, type OAuth2Server } from './oauth2-server.js';
import {
  cookieHeader,
  followRedirects,
  startOidcProvider,
  type CookieJar,
  type TestIdp,
} from './oidc-provider.js';
import type { SmtpSink } from './smtp-sink.js';

/**
 * A listening restauth (mail to an SMTP sink of its own) beside a real identity provider in the
 * test process. restauth's port is chosen first because the provider registers its callback
 * (the redirect URI) before restauth starts with the provider's address in its configuration.
 */
export interface OAuthApp<Provider> {
  t: TestApp;
  sink: SmtpSink;
  /** http://127.0.0.1:PORT, restauth's public URL. */
  base: string;
  /** base + /auth/v1, what auth-js is given. */
  url: string;
  /** restauth's GET /callback, the provider's redirect URI. */
  callbackUrl: string;
  provider: Provider;
  /** Closes restauth, its sink and the provider. */
  close(): Promise<void>;
}

export async function startOAuthApp<Provider extends { close(): Promise<void> }>(options: {
  /** restauth.json settings (a suite store's config, siteUrl, signup ...) beside the provider's. */
  config?: Record<string, unknown>;
  /** Starts the provider, given restauth's callback address. */
  provider: (callbackUrl: string) => Promise<Provider>;
  /** external.<name> for that provider. */
  external: (provider: Provider) => Record<string, unknown>;
}): Promise<OAuthApp<Provider>> {
  // restauth binds its port only once the provider is up: another process may have taken it by then.
  return onFreePort((port) => startOAuthAppOn(port, options));
}

async function startOAuthAppOn<Provider extends { close(): Promise<void> }>(
  port: number,
  options: Parameters<typeof startOAuthApp<Provider>>[0],
): Promise<OAuthApp<Provider>> {
  const base = `http://127.0.0.1:${port}`;
  const callbackUrl = `${base}/auth/v1/callback`;
  const provider = await options.provider(callbackUrl);
  let started: { t: TestApp; sink: SmtpSink };
  try {
    started = await startMailingApp({
      port,
      publicUrl: base,
      ...options.config,
      external: options.external(provider),
    });
  } catch (error) {
    await provider.close();
    throw error;
  }
  const { t, sink } = started;
  const close = async () => {
    await stopMailingApp(t, sink);
    await provider.close();
  };
  try {
    return { t, sink, base, url: await listen(t), callbackUrl, provider, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * restauth with an oidc-provider IdP as GoTrue's keycloak (a generic OIDC provider at its issuer);
 * `keycloak`: more of external.keycloak's settings (email_optional ...).
 */
export function startKeycloakApp(
  config: Record<string, unknown> = {},
  keycloak: Record<string, unknown> = {},
): Promise<OAuthApp<TestIdp>> {
  return startOAuthApp({
    config,
    provider: (callbackUrl) => startOidcProvider({ redirectUris: [callbackUrl] }),
    external: (idp) => ({
      keycloak: {
        enabled: true,
        client_id: idp.clientId,
        secret: idp.clientSecret,
        url: idp.issuer,
        ...keycloak,
      },
    }),
  });
}

/** restauth with the GitHub-style OAuth2 server as the github preset at its url (GitHub Enterprise). */
export function startGithubApp(config: Record<string, unknown> = {}): Promise<OAuthApp<OAuth2Server>> {
  return startOAuthApp({
    config,
    provider: () => startOAuth2Server(),
    external: (github) => ({
      github: { enabled: true, client_id: github.clientId, secret: github.clientSecret, url: github.url },
    }),
  });
}

/**
 * startGithubApp on a suite store of `kind` for the describe block it is called in: started in its
 * before() (`config` over the store's), closed and the store dropped in its after(). `app` is read
 * inside tests and later hooks.
 */
export function useGithubApp(
  kind: 'file' | 'postgres',
  config: Record<string, unknown> = {},
): { readonly app: OAuthApp<OAuth2Server> } {
  return useOAuthApp(kind, (storeConfig) => startGithubApp({ ...storeConfig, ...config }));
}

/** startKeycloakApp on a suite store of `kind` for the describe block it is called in, as useGithubApp. */
export function useKeycloakApp(
  kind: 'file' | 'postgres',
  config: Record<string, unknown> = {},
  keycloak: Record<string, unknown> = {},
): { readonly app: OAuthApp<TestIdp> } {
  return useOAuthApp(kind, (storeConfig) => startKeycloakApp({ ...storeConfig, ...config }, keycloak));
}

function useOAuthApp<Provider>(
  kind: 'file' | 'postgres',
  start: (storeConfig: Record<string, unknown>) => Promise<OAuthApp<Provider>>,
): { readonly app: OAuthApp<Provider> } {
  let app: OAuthApp<Provider> | undefined;
  let store: Awaited<ReturnType<typeof suiteStore>> | undefined;
  before(async () => {
    store = await suiteStore(kind);
    app = await start(store.config);
  });
  after(async () => {
    await app?.close();
    await store?.drop();
  });
  return {
    get app() {
      if (app === undefined) throw new Error('useOAuthApp: read in a test or a later hook');
      return app;
    },
  };
}

/**
 * `subject`, an account at the app's keycloak provider, signs in through restauth by the implicit flow:
 * the authorize redirect, the provider's login and consent, and restauth's callback, whose redirect
 * carries the session in its fragment. Its access token (null: the callback's redirect carried none;
 * `landed` is where it led).
 */
export async function signInWithKeycloak(
  app: OAuthApp<TestIdp>,
  subject: string,
): Promise<{ accessToken: string | null; landed: string }> {
  app.provider.loginAs(subject);
  // One browser: the callback brings the cookie restauth's /authorize set.
  const jar: CookieJar = new Map();
  const callback = await followRedirects(
    `${app.url}/authorize?provider=keycloak`,
    (at) => at.pathname === '/auth/v1/callback',
    15,
    jar,
  );
  const answer = await fetch(callback, {
    redirect: 'manual',
    headers: { cookie: cookieHeader(jar, callback) },
  });
  await answer.arrayBuffer();
  const landed = answer.headers.get('location') ?? '';
  return { accessToken: new URLSearchParams(new URL(landed).hash.slice(1)).get('access_token'), landed };
}
