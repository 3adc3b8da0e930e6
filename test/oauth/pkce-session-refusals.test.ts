import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gotrueClient } from '../support/gotrue.js';
import { useKeycloakApp } from '../support/oauth-app.js';
import { followRedirects } from '../support/oidc-provider.js';
import { queryOnce, verifiedTotpFactor } from '../support/mfa-factors.js';
import { challengeOf, newVerifier } from '../support/pkce.js';
import type { FlowStateStore } from '../../src/core/ports/flow-states.js';

/**
 * A provider sign-in by PKCE of a user restauth opens no session for (a verified MFA factor, as an
 * adopted GoTrue database has) was refused only at the code's exchange: the callback checked the ban
 * alone and issued a code. Now the callback refuses as a session would (GoTrue's error redirect to
 * the app). And an exchange whose session is refused (a factor verified after the code was issued)
 * spent the flow first: once the factor was deleted, the code was dead. Now the flow is stored again
 * and the same code signs in. Real PostgreSQL, a real OIDC provider (oidc-provider), the real auth-js.
 */
const APP = 'https://app.test';
const CALLBACK = `${APP}/cb`;

describe(
  'PKCE provider sign-in of a user with a verified MFA factor (postgres store)',
  { timeout: 60_000 },
  () => {
    const oauth = useKeycloakApp('postgres', { siteUrl: APP });

    /** The provider's account `subject` for `email`, and restauth's user made by an implicit sign-in. */
    async function providerUser(subject: string, email: string): Promise<string> {
      const { app } = oauth;
      app.provider.accounts.set(subject, { email, email_verified: true });
      const { client } = gotrueClient(app.url);
      const { data } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: CALLBACK, skipBrowserRedirect: true },
      });
      app.provider.loginAs(subject);
      const landed = await followRedirects(data.url!, APP);
      assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);
      const { rows } = await queryOnce(app.t.config, 'SELECT id FROM auth.users WHERE email = $1', [email]);
      return rows[0].id as string;
    }

    /** A PKCE sign-in as `subject` up to the app's page: auth-js (which keeps the verifier) and where it landed. */
    async function pkceSignIn(subject: string) {
      const { app } = oauth;
      const { client } = gotrueClient(app.url, { flowType: 'pkce' });
      const { data } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: CALLBACK, skipBrowserRedirect: true },
      });
      app.provider.loginAs(subject);
      return { client, landed: await followRedirects(data.url!, APP) };
    }

    const deleteFactor = (factorId: string) =>
      queryOnce(oauth.app.t.config, 'DELETE FROM auth.mfa_factors WHERE id = $1', [factorId]);

    it("the callback refuses before it issues a code: the app's page hears insufficient_aal", async () => {
      const userId = await providerUser('kc-ivy', 'ivy@acme.test');
      await verifiedTotpFactor(oauth.app.t.config, userId);
      const { landed } = await pkceSignIn('kc-ivy');
      assert.equal(landed.origin + landed.pathname, CALLBACK);
      assert.equal(landed.searchParams.get('code'), null, 'a code was issued for a refused session');
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('error_code'), 'insufficient_aal');
    });

    /**
     * A PKCE code for `subject` by the wire's flow, not auth-js's: auth-js drops its verifier after any
     * exchange, refused or not; a client that keeps it (another library, a server) retries with the
     * same code. Returns the exchange of that code, to call as often as a test needs.
     */
    async function pkceCode(subject: string) {
      const { app } = oauth;
      const verifier = newVerifier();
      const authorize = new URL(`${app.url}/authorize`);
      authorize.search = new URLSearchParams({
        provider: 'keycloak',
        redirect_to: CALLBACK,
        ...challengeOf(verifier),
      }).toString();
      app.provider.loginAs(subject);
      const landed = await followRedirects(authorize.href, APP);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);
      return async () => {
        const answer = await fetch(`${app.url}/token?grant_type=pkce`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ auth_code: code, code_verifier: verifier }),
        });
        return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
      };
    }

    it('an exchange refused its session keeps the flow: the same code signs in once the factor is deleted', async () => {
      const { app } = oauth;
      const userId = await providerUser('kc-joe', 'joe@acme.test');
      const exchange = await pkceCode('kc-joe');
      // Verified between the callback and the exchange (an operator's restore, an adopted database).
      const factorId = await verifiedTotpFactor(app.t.config, userId);
      const refused = await exchange();
      assert.equal(refused.status, 403);
      assert.equal(refused.body['error_code'], 'insufficient_aal');

      await deleteFactor(factorId);
      const exchanged = await exchange();
      assert.equal(
        exchanged.status,
        200,
        `the refused exchange spent the flow: ${JSON.stringify(exchanged.body)}`,
      );
      assert.equal((exchanged.body['user'] as { id: string }).id, userId);
      assert.ok(exchanged.body['provider_token'], 'the provider tokens were kept with the flow');
      const again = await exchange();
      assert.equal(again.body['error_code'], 'flow_state_not_found', 'the code works once');
    });

    it('a racing exchange of a code whose session is refused gets the same refusal, never flow_state_not_found', async () => {
      const { app } = oauth;
      const userId = await providerUser('kc-kim', 'kim@acme.test');
      const exchange = await pkceCode('kc-kim');
      const factorId = await verifiedTotpFactor(app.t.config, userId);
      // The second exchange runs where the first would have spent the flow, had it spent it before
      // judging the session (it then stored the flow again: the second found none in between).
      const flowStates = (app.t.services.pkce as unknown as { deps: { flowStates: FlowStateStore } }).deps
        .flowStates;
      const { consumeFlowState } = flowStates;
      let raced: { status: number; body: Record<string, unknown> } | null = null;
      flowStates.consumeFlowState = async (...args) => {
        const spent = await consumeFlowState.apply(flowStates, args);
        // Once: the racing exchange runs to its answer before the first goes on.
        if (raced === null) raced = await exchange();
        return spent;
      };
      try {
        const first = await exchange();
        assert.equal(first.body['error_code'], 'insufficient_aal', JSON.stringify(first.body));
      } finally {
        flowStates.consumeFlowState = consumeFlowState;
      }
      // Without a spend to race, the second exchange runs after the first: the same answer is due.
      const second = raced ?? (await exchange());
      assert.equal(second.body['error_code'], 'insufficient_aal', JSON.stringify(second.body));
      await deleteFactor(factorId);
      assert.equal((await exchange()).status, 200, 'the code works once the factor is gone');
    });
  },
);
