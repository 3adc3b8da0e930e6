import { createHmac, randomUUID } from 'node:crypto';
import { AuthError } from '../errors.js';
import { datedAhead } from '../clock-skew.js';
import type { PkceChallenge } from '../pkce.js';
import type { FlowStateStore, OAuthFlow } from '../ports/flow-states.js';
import type { ProviderTokens } from './provider.js';
import type { ProviderTokenSeal } from './provider-token-seal.js';
import { authCodeHashOf, newLinkCode, serializePendingLink, type PendingLink } from './pending-link.js';

/** How long a user may take at the provider (GoTrue's FlowStateExpiryDuration: 300 s). */
export const OAUTH_FLOW_LIFETIME_SECONDS = 300;

/** What GET /authorize starts: the flow, and the secrets its request to the provider carries. */
export interface StartedOAuthFlow {
  flow: OAuthFlow;
  secrets: OAuthFlowSecrets;
}

/**
 * The secrets of one flow towards the provider: the OIDC nonce and the PKCE verifier restauth
 * itself uses with the provider (not the app's). Derived from the state with a server key, so
 * nothing secret is stored, and the state, which travels in URLs, reveals neither.
 */
export interface OAuthFlowSecrets {
  nonce: string;
  codeVerifier: string;
  /** The value of the cookie that binds the flow to the browser that started it (see bindsBrowser). */
  browserBinding: string;
}

export interface OAuthFlowDeps {
  flowStates: FlowStateStore;
  clock: () => Date;
  /** The server key the flows' secrets are derived with (from the JWT secret or signing key). */
  key: Buffer;
  /** Seals the provider's tokens a PKCE flow keeps until its code is exchanged. */
  seal: ProviderTokenSeal;
  /** Whether a callback must come from the browser that started its flow (identities.oauthBrowserBinding). */
  bindsBrowser: boolean;
}

/**
 * The OAuth sign-in's state, as GoTrue keeps it: one flow-state row per
 * GET /authorize, its id the `state` sent to the provider. The callback
 * takes it once (a replayed or forged state finds nothing), within
 * OAUTH_FLOW_LIFETIME_SECONDS; it says where to go back to and whether the
 * app asked for PKCE. A PKCE callback then leaves a flow whose auth code
 * PkceFlows.exchange trades for the session (`grant_type=pkce`).
 */
export class OAuthFlows {
  constructor(private readonly deps: OAuthFlowDeps) {}

  async start(input: {
    provider: string;
    referrer: string | null;
    pkce: PkceChallenge | null;
    /** linkIdentity's user and the session it was started with; absent: a sign-in. */
    linking?: { userId: string; sessionId: string } | null;
  }): Promise<StartedOAuthFlow> {
    const flow: OAuthFlow = {
      id: randomUUID(),
      providerType: input.provider,
      codeChallenge: input.pkce?.challenge ?? null,
      codeChallengeMethod: input.pkce?.method ?? null,
      referrer: input.referrer,
      linkingTargetId: input.linking?.userId ?? null,
      linkingSessionId: input.linking?.sessionId ?? null,
      createdAt: this.deps.clock(),
    };
    await this.deps.flowStates.createOAuthFlow(flow);
    return { flow, secrets: this.secrets(flow.id) };
  }

  /**
   * The callback's `state`: its flow, taken (a second callback with it finds nothing), with its
   * secrets. GoTrue's errors: bad_oauth_callback without a state, bad_oauth_state for a state
   * that is unknown, spent or expired.
   */
  async take(state: string | undefined): Promise<StartedOAuthFlow> {
    if (state === undefined || state === '') {
      throw new AuthError('bad_oauth_callback', 'OAuth state parameter missing');
    }
    const flow = await this.deps.flowStates.takeOAuthFlow(state);
    if (flow === null) throw new AuthError('bad_oauth_state', 'OAuth state not found or expired');
    const now = this.deps.clock();
    // A flow dated ahead of now was started before the clock went back: its age is unknown.
    if (
      datedAhead(flow.createdAt, now) ||
      now.getTime() - flow.createdAt.getTime() > OAUTH_FLOW_LIFETIME_SECONDS * 1000
    ) {
      throw new AuthError('bad_oauth_state', 'OAuth state has expired');
    }
    return { flow, secrets: this.secrets(flow.id) };
  }

  /**
   * A PKCE flow's callback signed `userId` in: a flow with the app's challenge and a fresh auth
   * code, issued now, which the redirect carries as `?code=` (PkceFlows.exchange spends it). The
   * provider's tokens wait in it, sealed, for the exchange's answer (GoTrue's provider_token),
   * and go with it: at the exchange, or with the expired code at the upkeep. A linkIdentity flow's
   * identity waits in it likewise (`pendingLink`, `userId` its target): the exchange links it.
   */
  async issueCode(
    flow: OAuthFlow,
    userId: string,
    tokens: ProviderTokens,
    pendingLink: PendingLink | null = null,
  ): Promise<string> {
    if (flow.codeChallenge === null || flow.codeChallengeMethod === null) {
      throw new Error('an implicit OAuth flow has no code to issue');
    }
    const code = pendingLink === null ? randomUUID() : newLinkCode();
    const now = this.deps.clock();
    const id = randomUUID();
    const { seal } = this.deps;
    await this.deps.flowStates.createFlowState({
      id,
      userId,
      codeChallenge: flow.codeChallenge,
      codeChallengeMethod: flow.codeChallengeMethod,
      authenticationMethod: 'oauth',
      providerType: flow.providerType,
      createdAt: now,
      authCodeHash: authCodeHashOf(code),
      authCodeIssuedAt: now,
      providerAccessToken: seal.seal(tokens.accessToken, id),
      providerRefreshToken: tokens.refreshToken === null ? null : seal.seal(tokens.refreshToken, id),
      pendingLink: pendingLink === null ? null : serializePendingLink(pendingLink),
    });
    return code;
  }

  /**
   * Whether a callback must bring the cookie its flow's start set (see oauth-browser-binding.ts):
   * without it, whoever is sent a flow's callback address (or its address at the provider) by
   * the one who started it finishes that flow: signed in as them (login CSRF), their provider
   * identity linked to the starter's account, or handed the starter's PKCE code.
   */
  get bindsBrowser(): boolean {
    return this.deps.bindsBrowser;
  }

  /** The signature of a provider address restauth's own continue step may lead to (linkIdentity's JSON answer). */
  continueSignature(providerUrl: string): string {
    return this.derive('continue', providerUrl);
  }

  /** The flow secrets of `state`, for the continue step that sets its cookie. */
  secretsOf(state: string): OAuthFlowSecrets {
    return this.secrets(state);
  }

  private secrets(state: string): OAuthFlowSecrets {
    // 32 bytes base64url: 43 characters, the shortest PKCE verifier RFC 7636 allows.
    return {
      nonce: this.derive('nonce', state),
      codeVerifier: this.derive('pkce verifier', state),
      browserBinding: this.derive('browser binding', state),
    };
  }

  private derive(purpose: string, value: string): string {
    return createHmac('sha256', this.deps.key).update(`${purpose}:${value}`).digest('base64url');
  }
}
