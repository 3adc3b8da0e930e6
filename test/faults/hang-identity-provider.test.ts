import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startOAuthApp, type OAuthApp } from '../support/oauth-app.js';
import { startOidcProvider, type TestIdp } from '../support/oidc-provider.js';

/**
 * signInWithIdToken (POST /token?grant_type=id_token) against a provider whose key set (JWKS) hangs:
 * the connection is accepted and never answered, or the answer stops half-way. restauth gives up at
 * its provider timeout (10 s) and says the provider cannot be reached: 503 with Retry-After, as a
 * discovery that fails does. It answered 400 "Bad ID token": a provider's outage told to the user as
 * a forged token, and counted as one. Once the JWKS answers again the same token signs in.
 *
 * The provider is a real oidc-provider behind a front server that is its issuer: every request is
 * passed on (its own address in the answers made the front's), but the JWKS's is held as the test says.
 */
type JwksMode = 'answer' | 'never answer' | 'stop half-way';

interface FrontedIdp extends TestIdp {
  jwks: JwksMode;
}

async function frontedIdp(redirectUri: string): Promise<FrontedIdp> {
  const held = new Set<ServerResponse>();
  const front: Server = createServer((request, response) => {
    if (request.url === '/jwks' && fronted.jwks !== 'answer') {
      held.add(response);
      if (fronted.jwks === 'stop half-way') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"keys":[');
      }
      return;
    }
    fetch(`${idp.origin}${request.url}`, { headers: { accept: 'application/json' } }).then(
      async (answer) => {
        response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' });
        // oidc-provider names its endpoints by the Host it was asked at: the front's, as a proxy keeps it.
        response.end((await answer.text()).replaceAll(idp.origin, issuer));
      },
      (error: unknown) => response.writeHead(502).end(String(error)),
    );
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const idp = await startOidcProvider({ redirectUris: [redirectUri], issuer });
  const fronted: FrontedIdp = Object.assign(Object.create(idp) as TestIdp, {
    jwks: 'answer' as JwksMode,
    close: async () => {
      for (const response of held) response.destroy();
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await idp.close();
    },
  });
  return fronted;
}

// One app and provider for each: a key set fetched once is cached (jose), so a later hang is never met.
for (const mode of ['never answer', 'stop half-way'] as const) {
  describe(`signInWithIdToken while the provider’s JWKS would ${mode}`, () => {
    let app: OAuthApp<FrontedIdp>;
    before(async () => {
      app = await startOAuthApp({
        provider: frontedIdp,
        external: (idp) => ({
          keycloak: { enabled: true, client_id: idp.clientId, secret: idp.clientSecret, url: idp.issuer },
        }),
      });
    });
    after(async () => {
      await app?.close();
    });

    const signIn = (token: string) =>
      fetch(`${app.url}/token?grant_type=id_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'keycloak', id_token: token }),
      });

    it('503 with Retry-After at the provider timeout, then the token signs in once it answers', async () => {
      const idp = app.provider;
      const token = await idp.idToken({ sub: 'kc-ida', email: 'ida@acme.test', email_verified: true });
      idp.jwks = mode;
      const hung = await signIn(token);
      const body = (await hung.json()) as { error_code?: string };
      assert.equal(hung.status, 503, JSON.stringify(body));
      assert.equal(body.error_code, 'service_unavailable');
      assert.ok(hung.headers.get('retry-after'), 'Retry-After');

      idp.jwks = 'answer';
      const answered = await signIn(token);
      assert.equal(answered.status, 200, await answered.clone().text());
    });
  });
}
