import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, openIn, type CookieJar, type TestIdp } from '../support/oidc-provider.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Every OAuth callback that signs nobody in is counted by why, in the Prometheus metrics the
 * server exposes (restauth_oauth_callback_refusals_total{provider, reason}): a forged state, the
 * provider's own refusal, an id_token refused (its nonce changed on the way), a code exchange the
 * provider refuses (its PKCE challenge changed on the way), a newcomer while sign-ups are off.
 * Each refusal is caused for real against oidc-provider and read back from GET /metrics.
 */
const APP = 'https://app.test';
const METRIC = 'restauth_oauth_callback_refusals_total';

describe('OAuth callback refusals in /metrics', () => {
  let app: OAuthApp<TestIdp>;
  let t: TestApp;
  let url: string;
  let idp: TestIdp;

  before(async () => {
    app = await startKeycloakApp({
      siteUrl: APP,
      signup: { enabled: false },
      metrics: { enabled: true },
      identities: { manualLinking: true },
    });
    ({ t, url, provider: idp } = app);
    idp.accounts.set('kc-ines', { email: 'ines@acme.test', email_verified: true });
  });
  after(async () => {
    await app.close();
  });

  /** The refusals counted so far, by provider and reason ("keycloak/state": 1). */
  async function refusals(): Promise<Record<string, number>> {
    const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(scrape.statusCode, 200);
    const counted: Record<string, number> = {};
    for (const line of scrape.body.split('\n')) {
      const match = new RegExp(`^${METRIC}\\{provider="([^"]*)",reason="([^"]*)"\\} (\\S+)$`, 'u').exec(line);
      if (match) counted[`${match[1]}/${match[2]}`] = Number(match[3]);
    }
    return counted;
  }

  /** The user's browser: the cookie /authorize sets goes back with the callback. */
  const browser: CookieJar = new Map();

  async function authorizationUrl(): Promise<URL> {
    const response = await openIn(browser, new URL(`${url}/authorize?provider=keycloak`));
    assert.equal(response.status, 302);
    return new URL(response.headers.get('location')!);
  }

  /** Signs `account` in at the provider from `start`, then lets restauth's callback answer; where it leads. */
  async function callback(start: URL, account: string): Promise<URL> {
    idp.loginAs(account);
    const at = await followRedirects(start.href, (next) => next.pathname === '/auth/v1/callback');
    return land(at);
  }

  async function land(at: URL | string): Promise<URL> {
    const response = await openIn(browser, new URL(at));
    assert.ok([302, 303].includes(response.status), `${response.status}`);
    return new URL(response.headers.get('location')!);
  }

  it('counts each refusal by reason, and a sign-in that works counts none', async () => {
    assert.deepEqual(await refusals(), {});

    // A state restauth never issued.
    const forged = await land(`${url}/callback?code=x&state=6b0d4ae3-5a1e-4a0c-9f0e-6a3b6b0c9d11`);
    assert.equal(forged.searchParams.get('error_code'), 'bad_oauth_state');

    // The provider's own refusal (the user said no), on a real flow.
    const start = await authorizationUrl();
    const denied = await land(
      `${url}/callback?state=${start.searchParams.get('state')}&error=access_denied&error_description=no`,
    );
    assert.equal(denied.searchParams.get('error'), 'access_denied');

    // The nonce changed on the way to the provider: the id_token's nonce is refused.
    const badNonce = await authorizationUrl();
    badNonce.searchParams.set('nonce', 'attacker-chosen-nonce');
    assert.equal((await callback(badNonce, 'kc-ines')).searchParams.get('error_code'), 'unexpected_failure');

    // The PKCE challenge changed on the way: the provider refuses restauth's verifier at the exchange.
    const badChallenge = await authorizationUrl();
    badChallenge.searchParams.set('code_challenge', 'A'.repeat(43));
    assert.equal(
      (await callback(badChallenge, 'kc-ines')).searchParams.get('error_code'),
      'unexpected_failure',
    );

    // Sign-ups are off and ines has no account.
    const newcomer = await callback(await authorizationUrl(), 'kc-ines');
    assert.equal(newcomer.searchParams.get('error_code'), 'signup_disabled');

    // She gets one; her next sign-in works and adds no refusal.
    await t.services.auth.register(LOCAL_CALL, {
      email: 'ines@acme.test',
      password: 'ines password 1',
      emailConfirmed: true,
    });
    const signedIn = await callback(await authorizationUrl(), 'kc-ines');
    assert.ok(new URLSearchParams(signedIn.hash.slice(1)).get('access_token'), signedIn.href);

    assert.deepEqual(await refusals(), {
      'unknown/state': 1,
      'keycloak/provider_error': 1,
      'keycloak/id_token': 1,
      'keycloak/exchange': 1,
      'keycloak/signup_disabled': 1,
    });
  });

  // A PKCE linkIdentity links at its code's exchange, not at the callback: a link refused there
  // (the provider identity someone else's) counts as the callback's refusal did, by the provider.
  it('counts a PKCE link refused at its code exchange as `identity`', async () => {
    const other = await t.services.auth.register(LOCAL_CALL, {
      email: 'olga@acme.test',
      password: 'olga password 1',
      emailConfirmed: true,
    });
    await t.services.store.linkIdentity({
      userId: other.id,
      provider: 'keycloak',
      providerId: 'kc-taken',
      identityData: { sub: 'kc-taken' },
      now: new Date(),
    });
    idp.accounts.set('kc-taken', { email: 'taken@work.test', email_verified: true });
    await t.services.auth.register(LOCAL_CALL, {
      email: 'lars@acme.test',
      password: 'lars password 1',
      emailConfirmed: true,
    });
    const { client } = gotrueClient(url, { flowType: 'pkce' });
    const signIn = await client.signInWithPassword({ email: 'lars@acme.test', password: 'lars password 1' });
    assert.equal(signIn.error, null);
    const before = await refusals();

    const { data, error } = await client.linkIdentity({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
    });
    assert.equal(error, null);
    idp.loginAs('kc-taken');
    const landed = await followRedirects(data.url!, APP, 15, new Map());
    const code = landed.searchParams.get('code');
    assert.ok(code, landed.href);
    assert.deepEqual(await refusals(), before, 'the callback refused nothing: the link waits');

    const exchanged = await client.exchangeCodeForSession(code);
    assert.equal(exchanged.error?.code, 'identity_already_exists');
    assert.deepEqual(await refusals(), {
      ...before,
      'keycloak/identity': (before['keycloak/identity'] ?? 0) + 1,
    });
  });
});
