import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TestApp } from '../support/app.js';
import { chromiumAvailable, launchBrowser } from '../support/browser.js';
import { onFreePortListening, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { startOidcProvider, type TestIdp } from '../support/oidc-provider.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { ssrServer } from '../support/ssr-app.js';

/**
 * The whole redirect dance in headless Chromium: an @supabase/ssr server app's "Sign in with
 * Keycloak" (signInWithOAuth, the PKCE verifier in a cookie) → restauth's /authorize → the OIDC
 * provider (oidc-provider, logging the account in) → restauth's /callback → the app's
 * /auth/callback?code=, exchanged by the server → the account page the server renders after getUser.
 */
const skip = chromiumAvailable() ?? false;

function oauthApp(supabaseUrl: string): Server {
  return ssrServer(supabaseUrl, async ({ request, url, supabase, send }) => {
    if (url.pathname === '/') {
      return send(200, '<form method="post" action="/login"><button>Sign in with Keycloak</button></form>');
    }
    if (url.pathname === '/login' && request.method === 'POST') {
      const { data, error } = await supabase.auth.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${url.origin}/auth/callback` },
      });
      if (error || !data.url) return send(400, `<p id="result">error: ${error?.message}</p>`);
      return send(303, '', { location: data.url });
    }
    if (url.pathname === '/auth/callback') {
      const code = url.searchParams.get('code');
      if (code === null) return send(400, `<p id="result">error: ${url.searchParams.get('error_code')}</p>`);
      const { error } = await supabase.auth.exchangeCodeForSession(code);
      if (error) return send(400, `<p id="result">error: ${error.code ?? error.message}</p>`);
      return send(303, '', { location: '/account' });
    }
    if (url.pathname === '/account') {
      const { data, error } = await supabase.auth.getUser();
      if (error || !data.user) return send(401, '<p id="result">signed out</p>');
      const providers = (data.user.identities ?? []).map((identity) => identity.provider).sort();
      return send(200, `<p id="result">signed in as ${data.user.email} via ${providers.join(',')}</p>`);
    }
    return send(404, 'not found');
  });
}

describe('OIDC sign-in in Chromium: an @supabase/ssr app through the provider and back', { skip }, () => {
  let browser: Browser;
  let t: TestApp;
  let sink: SmtpSink;
  let idp: TestIdp;
  let app: Server;
  let appOrigin: string;

  before(async () => {
    browser = await launchBrowser();
    // The provider's redirect URI and the app's links name restauth's port before restauth binds it.
    ({ t, sink, idp, app, appOrigin } = await onFreePortListening(
      async (port) => {
        const base = `http://127.0.0.1:${port}`;
        const provider = await startOidcProvider({ redirectUris: [`${base}/auth/v1/callback`] });
        provider.accounts.set('kc-carla', { email: 'carla@acme.test', email_verified: true, name: 'Carla' });
        const server = oauthApp(base);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const started = await startMailingApp({
          port,
          publicUrl: base,
          siteUrl: origin,
          external: {
            keycloak: {
              enabled: true,
              client_id: provider.clientId,
              secret: provider.clientSecret,
              url: provider.issuer,
            },
          },
        });
        return { ...started, idp: provider, app: server, appOrigin: origin };
      },
      async (started) => {
        await new Promise((resolve) => started.app.close(resolve));
        await started.idp.close();
      },
    ));
  });
  after(async () => {
    await browser.close();
    await new Promise((resolve) => app.close(resolve));
    await stopMailingApp(t, sink);
    await idp.close();
  });

  it('the button leads through restauth and the provider to the signed-in account page', async () => {
    const page = await browser.newPage();
    try {
      idp.loginAs('kc-carla');
      await page.goto(`${appOrigin}/`);
      await Promise.all([page.waitForURL(`${appOrigin}/account`), page.click('button')]);
      assert.equal(await page.textContent('#result'), 'signed in as carla@acme.test via keycloak');
    } finally {
      await page.close();
    }
  });
});
