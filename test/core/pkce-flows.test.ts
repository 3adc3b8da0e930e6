import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AUTH_CODE_LIFETIME_SECONDS, PkceFlows } from '../../src/core/flow-states.js';
import { OAuthFlows } from '../../src/core/oauth/flows.js';
import { ProviderTokenSeal } from '../../src/core/oauth/provider-token-seal.js';
import type { User } from '../../src/core/ports/store.js';
import { hashSecret } from '../../src/core/secrets.js';
import type { Backend } from '../../src/stores/backend.js';
import { openFileBackendIn } from '../support/file-backend.js';

/**
 * PkceFlows' lifetimes on a real (file) store with an injected clock: a flow waits for its link as
 * long as the link lives, its code lives 300 s from its issue, and the upkeep's prune removes each
 * once past it (after which the link or code finds no flow).
 */
const LINK_TTL = 3600;
const verifier = 'dBjftJeZ4CVP-mJ92K9HUBsorE8Ra-ncmWfJ2Zlh0hZ7CzrAcI5R2Ydcsyt';
const challenge = {
  challenge: createHash('sha256').update(verifier).digest('base64url'),
  method: 's256' as const,
};

describe('PkceFlows lifetimes and pruning', () => {
  let dir: string;
  let backend: Backend;
  let user: User;
  let now = new Date('2026-06-01T12:00:00.000Z');
  let flows: PkceFlows;
  const seal = new ProviderTokenSeal(randomBytes(32));
  const later = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };
  /** The OAuth flows on the same store, clock and seal (their codes are exchanged by `flows`). */
  const oauthFlows = () =>
    new OAuthFlows({
      flowStates: backend.flowStates,
      clock: () => now,
      key: randomBytes(32),
      seal,
      bindsBrowser: true,
    });
  const code = async (answer: Promise<unknown>) =>
    answer.then(
      () => 'ok',
      (error: { code?: string }) => error.code,
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-pkce-flows-'));
    backend = await openFileBackendIn(dir, { stateDir: dir });
    user = await backend.store.createUser(
      {
        username: null,
        email: 'ann@acme.test',
        emailConfirmedAt: now,
        role: null,
        profile: {},
        appMetadata: {},
      },
      null,
    );
    flows = new PkceFlows({
      flowStates: backend.flowStates,
      store: backend.store,
      clock: () => now,
      settings: { linkTtl: LINK_TTL },
      providerTokenSeal: seal,
    });
  });
  after(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a code is kept until 300 s after its issue, then pruned', async () => {
    const flowId = await flows.start(user.id, 'magiclink', challenge);
    later(100);
    const issued = await flows.issueCode(user, flowId);
    later(AUTH_CODE_LIFETIME_SECONDS - 1);
    assert.equal(await flows.prune(now), 0);
    later(2);
    assert.equal(await code(flows.exchange(issued, verifier)), 'flow_state_expired');
    assert.equal(await flows.prune(now), 1);
    assert.equal(await code(flows.exchange(issued, verifier)), 'flow_state_not_found');
  });

  it('a flow waits for its link as long as the link lives, then is pruned and its link finds none', async () => {
    const flowId = await flows.start(user.id, 'recovery', challenge);
    later(LINK_TTL - 1);
    assert.equal(await flows.prune(now), 0);
    const issued = await flows.issueCode(user, flowId);
    assert.equal((await flows.exchange(issued, verifier)).user.id, user.id);

    const waiting = await flows.start(user.id, 'recovery', challenge);
    later(LINK_TTL + 1);
    assert.equal(await flows.prune(now), 1);
    assert.equal(await code(flows.issueCode(user, waiting)), 'flow_state_not_found');
  });

  it("an OAuth flow's provider tokens are stored sealed, answered once by the exchange, and go with the flow", async () => {
    const oauth = oauthFlows();
    const { flow } = await oauth.start({ provider: 'keycloak', referrer: null, pkce: challenge });
    const tokens = {
      accessToken: 'idp-access-token-1234',
      refreshToken: 'idp-refresh-token-5678',
      idToken: null,
    };
    const issued = await oauth.issueCode(flow, user.id, tokens);
    const stored = await backend.flowStates.findFlowStateByAuthCode(hashSecret(issued));
    assert.ok(stored?.providerAccessToken && stored.providerRefreshToken);
    assert.doesNotMatch(`${stored.providerAccessToken} ${stored.providerRefreshToken}`, /idp-|1234|5678/u);
    // Sealed for its flow: the same text under another flow's id does not open.
    assert.equal(seal.open(stored.providerAccessToken, flow.id), null);
    assert.equal(new ProviderTokenSeal(randomBytes(32)).open(stored.providerAccessToken, stored.id), null);

    const exchanged = await flows.exchange(issued, verifier);
    assert.deepEqual(exchanged.providerTokens, {
      accessToken: 'idp-access-token-1234',
      refreshToken: 'idp-refresh-token-5678',
    });
    assert.equal(await backend.flowStates.findFlowStateByAuthCode(hashSecret(issued)), null);

    // A provider without a refresh token; a mailed link's flow has no provider tokens at all.
    const second = await oauth.start({ provider: 'keycloak', referrer: null, pkce: challenge });
    const code2 = await oauth.issueCode(second.flow, user.id, { ...tokens, refreshToken: null });
    assert.deepEqual((await flows.exchange(code2, verifier)).providerTokens, {
      accessToken: 'idp-access-token-1234',
      refreshToken: null,
    });
    const mailed = await flows.issueCode(user, await flows.start(user.id, 'magiclink', challenge));
    assert.equal((await flows.exchange(mailed, verifier)).providerTokens, null);
  });

  // Rolling upgrade: an instance from before PKCE links waited for the exchange spends a code by
  // findFlowStateByAuthCode(hashSecret(code)) and answers its user's session, linking nothing.
  // A link flow's code is kept under a hash of its own, so that lookup finds no flow.
  it("a link flow's code is found by the exchange only, not by an older instance's lookup", async () => {
    const oauth = oauthFlows();
    const { flow } = await oauth.start({
      provider: 'keycloak',
      referrer: null,
      pkce: challenge,
      linking: { userId: user.id, sessionId: 'starting-session' },
    });
    const link = {
      sessionId: 'starting-session',
      provider: 'keycloak',
      claims: {
        subject: 'kc-ann',
        email: null,
        emailVerified: false,
        name: null,
        avatarUrl: null,
        extra: {},
      },
      identityData: { sub: 'kc-ann' },
      redirectTo: null,
    };
    const tokens = { accessToken: 'idp-access-token', refreshToken: null, idToken: null };
    const issued = await oauth.issueCode(flow, user.id, tokens, link);
    assert.equal(await backend.flowStates.findFlowStateByAuthCode(hashSecret(issued)), null);

    const exchanged = await flows.exchange(issued, verifier);
    assert.equal(exchanged.user.id, user.id);
    assert.deepEqual(exchanged.pendingLink, link);
    // A sign-in's code is kept as before: an older instance still exchanges those.
    const signIn = await oauth.start({ provider: 'keycloak', referrer: null, pkce: challenge });
    const plain = await oauth.issueCode(signIn.flow, user.id, tokens);
    assert.ok(await backend.flowStates.findFlowStateByAuthCode(hashSecret(plain)));
  });
});
