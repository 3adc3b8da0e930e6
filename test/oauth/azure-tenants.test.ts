import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  cookieHeader,
  followRedirects,
  keepCookies,
  startOidcProvider,
  type CookieJar,
  type TestIdp,
} from '../support/oidc-provider.js';

/**
 * Microsoft Entra ID's tenants, as restauth's azure preset meets them: two tenants of
 * login.microsoftonline.com are two oidc-provider IdPs in the test process, each issuing
 * id_tokens as its tenant does (`iss` https://login.microsoftonline.com/{tid}/v2.0 and its
 * `tid`), reached through restauth's provider fetch the way a DNS entry would send them. The
 * `common` endpoint's discovery names the issuer `.../{tenantid}/v2.0`, as Microsoft's does.
 *
 * - Multi-tenant (no `url`: common): a user of either tenant signs in; each id_token's issuer
 *   must be the template with its own `tid` (Microsoft's rule), so a token whose `tid` names
 *   another tenant than its issuer is refused. Before, restauth rebuilt openid-client's
 *   configuration after discovery and lost its Entra handling: every callback was refused.
 * - Single tenant (`url` .../<tenant A>): a token of tenant B is refused even when its
 *   endpoint hands it over (a mix-up).
 */
const MICROSOFT = 'https://login.microsoftonline.com';
const TENANT_A = 'aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa';
const TENANT_B = 'bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb';
const APP = 'https://app.test';

describe('azure preset: Entra ID tenants', () => {
  const tenants = new Map<string, TestIdp>();
  /** The tenant whose IdP the `common` endpoints answer for now (Microsoft: the user's home tenant). */
  let homeTenant = TENANT_A;
  /** A tenant whose IdP answers every tenant's token endpoint (a mix-up), or null. */
  let tokensFrom: string | null = null;
  let port: number;
  const apps: TestApp[] = [];
  /**
   * The port the IdPs' redirect URI names (fixed at their start), held by this server for the whole file
   * and handed to each test's app in turn. Each app listening on it itself left it free before the first
   * and between tests, for another process to take (EADDRINUSE).
   */
  let front: Server;
  let served: TestApp | null = null;

  before(async () => {
    front = createServer((request, response) => {
      if (served === null) response.writeHead(503).end();
      else served.app.routing(request, response);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    port = (front.address() as AddressInfo).port;
    for (const [tenant, kid] of [
      [TENANT_A, 'tenant-a-key'],
      [TENANT_B, 'tenant-b-key'],
    ] as const) {
      tenants.set(
        tenant,
        await startOidcProvider({
          redirectUris: [`http://127.0.0.1:${port}/auth/v1/callback`],
          issuer: `${MICROSOFT}/${tenant}/v2.0`,
          pkceRequired: false,
          kid,
        }),
      );
    }
  });
  after(async () => {
    for (const app of apps) await app.close();
    for (const idp of tenants.values()) await idp.close();
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
  });

  function idpOf(tenant: string): TestIdp {
    return tenants.get(tenant === 'common' ? homeTenant : tenant)!;
  }

  /** Microsoft's discovery document of `common` (the issuer a template) or of one tenant. */
  function discovery(tenant: string): Record<string, unknown> {
    const base = `${MICROSOFT}/${tenant}`;
    return {
      issuer: `${MICROSOFT}/${tenant === 'common' ? '{tenantid}' : tenant}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    };
  }

  /** login.microsoftonline.com as restauth reaches it: each tenant's requests to its IdP. */
  const microsoft = async (url: string, init: RequestInit): Promise<Response> => {
    const match = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/(.*)$/u.exec(url);
    if (match === null) return fetch(url, init);
    const [, tenant = '', path = ''] = match;
    if (path === 'v2.0/.well-known/openid-configuration') return Response.json(discovery(tenant));
    if (path === 'discovery/v2.0/keys') {
      // One key set for every tenant, as Microsoft publishes it.
      const keys = [];
      for (const idp of tenants.values()) {
        keys.push(...((await (await fetch(`${idp.origin}/jwks`)).json()) as { keys: unknown[] }).keys);
      }
      return Response.json({ keys });
    }
    if (path === 'oauth2/v2.0/token') return fetch(`${idpOf(tokensFrom ?? tenant).origin}/token`, init);
    return new Response('not found', { status: 404 });
  };

  async function startApp(azure: Record<string, unknown>): Promise<{ t: TestApp; url: string }> {
    const idp = tenants.get(TENANT_A)!;
    const t = await createTestApp({
      format: 'restauth',
      config: {
        port,
        publicUrl: `http://127.0.0.1:${port}`,
        siteUrl: APP,
        signup: { confirmEmail: false },
        metrics: { enabled: true },
        external: { azure: { enabled: true, client_id: idp.clientId, secret: idp.clientSecret, ...azure } },
      },
      providerFetch: microsoft,
    });
    apps.push(t);
    await t.app.ready();
    served = t;
    return { t, url: `http://127.0.0.1:${port}/auth/v1` };
  }

  async function stopApp(t: TestApp): Promise<void> {
    apps.splice(apps.indexOf(t), 1);
    served = null;
    await t.close();
  }

  /**
   * Signs `account` in at `tenant`'s IdP through restauth: /authorize's redirect to Microsoft sent
   * to that IdP, its answer back to restauth's callback (without oidc-provider's `iss` response
   * parameter, which Entra does not send), and where restauth then leads.
   */
  async function signIn(url: string, tenant: string, account: string): Promise<URL> {
    homeTenant = tenant;
    const idp = tenants.get(tenant)!;
    const authorize = new URL(`${url}/authorize?provider=azure&scopes=email`);
    const response = await fetch(authorize, { redirect: 'manual' });
    assert.equal(response.status, 302, await response.text());
    const browser: CookieJar = new Map();
    keepCookies(browser, authorize, response);
    const start = new URL(response.headers.get('location')!);
    assert.match(start.href, /^https:\/\/login\.microsoftonline\.com\/[^/]+\/oauth2\/v2\.0\/authorize\?/u);
    idp.loginAs(account);
    const callback = await followRedirects(
      `${idp.origin}/auth${start.search}`,
      (at) => at.pathname === '/auth/v1/callback',
    );
    callback.searchParams.delete('iss');
    const landed = await fetch(callback, {
      redirect: 'manual',
      headers: { cookie: cookieHeader(browser, callback) },
    });
    await landed.arrayBuffer();
    return new URL(landed.headers.get('location')!);
  }

  const sessionOf = (landed: URL) => new URLSearchParams(landed.hash.slice(1)).get('access_token');

  async function refusals(t: TestApp): Promise<string[]> {
    const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
    return scrape.body
      .split('\n')
      .filter((line) => line.startsWith('restauth_oauth_callback_refusals_total{'));
  }

  it("multi-tenant (common): users of either tenant sign in; a token whose tid is not its issuer's is refused", async () => {
    const { t, url } = await startApp({});
    try {
      tenants.get(TENANT_A)!.accounts.set('ada-a', { tid: TENANT_A, email: 'ada@a.test', name: 'Ada' });
      tenants.get(TENANT_B)!.accounts.set('bob-b', { tid: TENANT_B, email: 'bob@b.test', name: 'Bob' });
      const ada = await signIn(url, TENANT_A, 'ada-a');
      assert.ok(sessionOf(ada), ada.href);
      const bob = await signIn(url, TENANT_B, 'bob-b');
      assert.ok(sessionOf(bob), bob.href);
      const identity = await t.services.store.findIdentity('azure', 'bob-b');
      assert.ok(identity, 'bob signed in with his azure identity');

      // Tenant B's IdP claims tenant A's tid: the issuer is not the template with that tid.
      tenants.get(TENANT_B)!.accounts.set('mallory-b', { tid: TENANT_A, email: 'ada@a.test' });
      const forged = await signIn(url, TENANT_B, 'mallory-b');
      assert.equal(forged.searchParams.get('error_code'), 'unexpected_failure', forged.href);
      assert.equal(sessionOf(forged), null);
      assert.deepEqual(await refusals(t), [
        'restauth_oauth_callback_refusals_total{provider="azure",reason="id_token"} 1',
      ]);
    } finally {
      await stopApp(t);
    }
  });

  it("single tenant (url names tenant A): tenant B's token is refused, tenant A's signs in", async () => {
    const { t, url } = await startApp({ url: `${MICROSOFT}/${TENANT_A}` });
    try {
      tenants.get(TENANT_A)!.accounts.set('cy-a', { tid: TENANT_A, email: 'cy@a.test' });
      tenants.get(TENANT_B)!.accounts.set('dan-b', { tid: TENANT_B, email: 'dan@b.test' });
      const cy = await signIn(url, TENANT_A, 'cy-a');
      assert.ok(sessionOf(cy), cy.href);
      // Tenant A's token endpoint answered by tenant B (a mix-up): B's token is not tenant A's.
      tokensFrom = TENANT_B;
      const dan = await signIn(url, TENANT_B, 'dan-b');
      assert.equal(dan.searchParams.get('error_code'), 'unexpected_failure', dan.href);
      assert.equal(await t.services.store.findUserByEmail('dan@b.test'), null);
      assert.deepEqual(await refusals(t), [
        'restauth_oauth_callback_refusals_total{provider="azure",reason="id_token"} 1',
      ]);
    } finally {
      tokensFrom = null;
      await stopApp(t);
    }
  });
});
