import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { ProviderHttp, ProviderSettings } from '../../src/core/oauth/provider.js';
import { github } from '../../src/core/oauth/providers/github.js';
import { githubAccount, startOAuth2Server, type OAuth2Server } from '../support/oauth2-server.js';

/**
 * The github preset over real HTTP against the GitHub-style server of
 * test/support/oauth2-server.ts, reached by `url` as a GitHub Enterprise
 * Server would be: its endpoints take openid-client (restauth's OAuth client
 * library) through GitHub's authorization and code exchange, quirks
 * included (form-encoded answers, refusals with status 200), and readUser
 * reads /api/v3/user and /api/v3/user/emails with the token it got.
 */

const REDIRECT = 'http://127.0.0.1:9/auth/v1/callback';

/** GETs JSON with the access token, throwing on a non-2xx answer (the ProviderHttp contract). */
const http: ProviderHttp = {
  async getJson(url, accessToken, headers = {}) {
    const answer = await fetch(url, { headers: { ...headers, authorization: `Bearer ${accessToken}` } });
    if (!answer.ok) throw new Error(`${url} answered ${answer.status}`);
    return answer.json();
  },
};

describe('the github preset against a GitHub-style server', () => {
  let server: OAuth2Server;
  let settings: ProviderSettings;
  let config: client.Configuration;

  before(async () => {
    server = await startOAuth2Server();
    settings = {
      name: 'github',
      clientIds: [server.clientId],
      secret: server.clientSecret,
      redirectUri: REDIRECT,
      url: server.url,
      apiUrl: null,
      issuer: null,
      skipNonceCheck: false,
      emailOptional: false,
    };
    const endpoints = github.endpoints(settings);
    config = new client.Configuration(
      {
        issuer: new URL(endpoints.authorization).origin,
        authorization_endpoint: endpoints.authorization,
        token_endpoint: endpoints.token,
      },
      server.clientId,
      { redirect_uris: [REDIRECT] },
      client.ClientSecretPost(server.clientSecret),
    );
    client.allowInsecureRequests(config);
  });
  after(() => server.close());

  /** The callback URL GitHub redirects to after the user approves. */
  async function authorize(state: string): Promise<URL> {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: github.defaultScopes.join(' '),
      state,
    });
    const answer = await fetch(url, { redirect: 'manual' });
    await answer.arrayBuffer();
    return new URL(answer.headers.get('location')!);
  }

  it('authorize, exchange the code, read the user: the primary verified address', async () => {
    const account = githubAccount(583231, 'octocat', 'octocat@github.test');
    account.emails.unshift({ email: 'first@github.test', primary: false, verified: true });
    server.signInAs(account);
    const callback = await authorize('state-1');
    assert.equal(callback.origin + callback.pathname, REDIRECT);
    assert.equal(server.authorizations.at(-1)!['scope'], 'user:email');
    const tokens = await client.authorizationCodeGrant(config, callback, { expectedState: 'state-1' });
    assert.match(tokens.access_token, /^gho_/);
    const claims = await github.readUser(
      { accessToken: tokens.access_token, refreshToken: null, idToken: null },
      http,
      settings,
    );
    assert.equal(claims.subject, '583231');
    assert.equal(claims.email, 'octocat@github.test');
    assert.equal(claims.emailVerified, true);
    assert.equal(claims.extra['iss'], `${server.url}/api/v3`, "GitHub Enterprise Server's API");
  });

  it("a code works once: GitHub's bad_verification_code (status 200) is refused by the client", async () => {
    server.signInAs(githubAccount(1, 'once', 'once@github.test'));
    const callback = await authorize('state-2');
    await client.authorizationCodeGrant(config, callback, { expectedState: 'state-2' });
    await assert.rejects(client.authorizationCodeGrant(config, callback, { expectedState: 'state-2' }));
  });

  it('a tampered state is refused before any exchange', async () => {
    server.signInAs(githubAccount(2, 'state', 'state@github.test'));
    const callback = await authorize('state-3');
    const exchanges = server.tokenRequests.length;
    await assert.rejects(client.authorizationCodeGrant(config, callback, { expectedState: 'another' }));
    assert.equal(server.tokenRequests.length, exchanges);
  });

  it("a wrong client secret is refused (GitHub's incorrect_client_credentials)", async () => {
    server.signInAs(githubAccount(3, 'secret', 'secret@github.test'));
    const callback = await authorize('state-4');
    const wrong = new client.Configuration(
      config.serverMetadata(),
      server.clientId,
      { redirect_uris: [REDIRECT] },
      client.ClientSecretPost('not the secret'),
    );
    client.allowInsecureRequests(wrong);
    await assert.rejects(client.authorizationCodeGrant(wrong, callback, { expectedState: 'state-4' }));
  });

  it('readUser refuses when the API refuses the token', async () => {
    await assert.rejects(
      github.readUser({ accessToken: 'gho_forged', refreshToken: null, idToken: null }, http, settings),
      /answered 401/,
    );
  });
});
