import { randomUUID } from 'node:crypto';
import { AuthError, isAuthError } from './errors.js';
import { datedAhead } from './clock-skew.js';
import type { VerifyType } from './email-flows.js';
import { verifierMatches, type PkceChallenge } from './pkce.js';
import { hashSecret } from './secrets.js';
import type { FlowState, FlowStateStore } from './ports/flow-states.js';
import type { Store, User } from './ports/store.js';
import type { ProviderTokenSeal } from './oauth/provider-token-seal.js';
import { authCodeHashOf, parsePendingLink, type PendingLink } from './oauth/pending-link.js';

/** GoTrue's default flow-state lifetime (GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION, 300 s, also its least). */
export const AUTH_CODE_LIFETIME_SECONDS = 300;

/** GoTrue's authentication method of the flow a mailed link of each type ends. */
const METHOD_OF: Record<VerifyType, string> = {
  signup: 'email/signup',
  email: 'email/signup',
  invite: 'invite',
  magiclink: 'magiclink',
  recovery: 'recovery',
  email_change: 'email_change',
};

export interface PkceFlowSettings {
  /** Seconds a flow waits for its mailed link to be used: the link's own lifetime (oneTimeTokens.ttl). */
  linkTtl: number;
}

export interface PkceFlowDeps {
  flowStates: FlowStateStore;
  store: Store;
  clock: () => Date;
  settings: PkceFlowSettings;
  /** Opens an OAuth flow's provider tokens for the exchange's answer. */
  providerTokenSeal: ProviderTokenSeal;
}

/** The provider's tokens an OAuth sign-in's exchange answers with (GoTrue's provider_token, provider_refresh_token). */
export interface ExchangedProviderTokens {
  accessToken: string;
  refreshToken: string | null;
}

/** What a code's exchange yields: its user, how the flow authenticated, and an OAuth flow's provider tokens. */
export interface PkceExchange {
  user: User;
  authenticationMethod: string;
  providerTokens: ExchangedProviderTokens | null;
  /** A linkIdentity flow's identity, for the exchange to link to `user` (see pending-link.ts); null for others. */
  pendingLink: PendingLink | null;
  /** The user's password hash as stored before the flow was spent (null: none): see assertPasswordStands. */
  passwordHash: string | null;
}

/**
 * The PKCE flow of the mailed links (GoTrue's flow state). A request with a
 * `code_challenge` starts a flow for its user; using the mail's link issues
 * the flow an auth code, which the link's redirect carries as `?code=`; the
 * client that holds the verifier exchanges code and verifier for a session,
 * once. A session never travels in a URL, and a link opened in another
 * browser yields a code that browser cannot use.
 *
 * Lifetimes (core's policy; stores keep dates): a flow waits for its link as
 * long as the link lives; its code lives AUTH_CODE_LIFETIME_SECONDS from its
 * issue. GoTrue counts that from the issue for magic links only and from the
 * flow's start otherwise, which kills the code of a confirmation link opened
 * five minutes after signing up; restauth counts every code from its issue.
 */
export class PkceFlows {
  constructor(private readonly deps: PkceFlowDeps) {}

  /**
   * Starts the flow a mail of `type` to this user will end (before the mail is issued); returns its
   * id, which the mail's token keeps: its link issues a code to this flow alone (see issueCode).
   */
  async start(userId: string, type: VerifyType, challenge: PkceChallenge): Promise<string> {
    const id = randomUUID();
    await this.deps.flowStates.createFlowState({
      id,
      userId,
      codeChallenge: challenge.challenge,
      codeChallengeMethod: challenge.method,
      authenticationMethod: METHOD_OF[type],
      providerType: 'email',
      createdAt: this.deps.clock(),
    });
    return id;
  }

  /**
   * The link of a PKCE mail was used: issues its auth code to `flowId`, the flow started with the
   * mail (its token keeps the id), and returns the code (for the redirect). GoTrue issues it to the
   * user's newest flow of the link's type, which anyone starts by asking a mail for the address
   * with a challenge of their own (throttled, nothing is mailed, but the flow is the newest): the
   * owner's click then handed its code to that flow's verifier. 400 flow_state_not_found without
   * a live flow, or without one named (a link mailed without a challenge, passed off as PKCE).
   */
  async issueCode(user: User, flowId: string | null): Promise<string> {
    const now = this.deps.clock();
    const code = randomUUID();
    const since = new Date(now.getTime() - this.deps.settings.linkTtl * 1000);
    const flow =
      flowId === null
        ? null
        : await this.deps.flowStates.issueFlowAuthCode(flowId, user.id, hashSecret(code), now, since);
    if (flow === null) {
      throw new AuthError('flow_state_not_found', 'No associated flow state found.', { status: 400 });
    }
    return code;
  }

  /**
   * `grant_type=pkce`: the user of the flow whose code this is, when `verifier` is its challenge's,
   * the code is live and this call is the one that spends it (of racing exchanges one is). Errors
   * as GoTrue's: flow_state_not_found (unknown, spent or of a deleted user), flow_state_expired,
   * bad_code_verifier (the flow stays: a client may retry with its right verifier). With the user,
   * the flow's authentication method ('email/signup', 'magiclink' ...): the session's amr, as GoTrue's.
   */
  exchange(authCode: string, verifier: string): Promise<PkceExchange> {
    return this.exchangeFor(authCode, verifier, async (exchanged) => exchanged);
  }

  /**
   * exchange, then `next` (the session's start). `admit` judges the flow's user before anything is
   * spent (a ban, a verified MFA factor): refused there, the flow was never consumed, so a racing
   * exchange of the same code gets the same refusal, where one between a spend and its restore got
   * flow_state_not_found for a code then restored. A refusal by `next` (4xx: what changed since
   * `admit`) stores the spent flow again, so the same code works once what refused it is fixed (an
   * MFA factor deleted, a ban lifted), as EmailFlows.spentOn keeps a mailed token. Within the code's
   * lifetime, which counts from its issue as before.
   */
  async exchangeFor<T>(
    authCode: string,
    verifier: string,
    next: (exchanged: PkceExchange) => Promise<T>,
    admit: (user: User) => Promise<void> = async () => {},
  ): Promise<T> {
    const { flow, exchanged } = await this.spend(authCode, verifier, admit);
    try {
      return await next(exchanged);
    } catch (error) {
      // Not a flow found ended since (assertPasswordStands): stored again, it would outlive the change
      // that ended it.
      if (isAuthError(error) && error.status < 500 && error.code !== 'flow_state_not_found')
        await this.unspend(flow);
      throw error;
    }
  }

  /**
   * Once `next` opened the exchange's session `sessionId`: refused (flow_state_not_found, the session
   * ended) when the account's password was replaced since the flow was spent. The change ends the
   * account's flows and sessions in its write (Store.changePassword), but a flow spent just before it
   * is no longer there to end, and the session it opens after the change's commit was not there
   * either: the thief who held the flow's verifier was back in. The hash is read after the session
   * was written, so a change committed before that write is seen here, and one committed after it
   * ends the session itself; a replaced hash never comes back (each hash is salted).
   */
  async assertPasswordStands(exchanged: PkceExchange, sessionId: string): Promise<void> {
    const { store } = this.deps;
    if ((await store.getPasswordHash(exchanged.user.id)) === exchanged.passwordHash) return;
    await store.revokeSession(sessionId, 'password_changed', this.deps.clock());
    throw new AuthError('flow_state_not_found');
  }

  /** Stores a spent flow again; not when its user has gone since (nothing left to exchange for). */
  private async unspend(flow: FlowState): Promise<void> {
    if ((await this.deps.store.findUserById(flow.userId)) === null) return;
    await this.deps.flowStates.createFlowState(flow);
  }

  private async spend(
    authCode: string,
    verifier: string,
    admit: (user: User) => Promise<void>,
  ): Promise<{ flow: FlowState; exchanged: PkceExchange }> {
    if (authCode === '' || verifier === '') {
      throw new AuthError(
        'validation_failed',
        'invalid request: both auth code and code verifier should be non-empty',
      );
    }
    const now = this.deps.clock();
    const codeHash = authCodeHashOf(authCode);
    const flow = await this.deps.flowStates.findFlowStateByAuthCode(codeHash);
    if (flow === null || flow.authCodeIssuedAt === null) throw new AuthError('flow_state_not_found');
    // A code dated ahead of now was issued before the clock went back: its age is unknown.
    if (
      datedAhead(flow.authCodeIssuedAt, now) ||
      now.getTime() > flow.authCodeIssuedAt.getTime() + AUTH_CODE_LIFETIME_SECONDS * 1000
    ) {
      throw new AuthError('flow_state_expired');
    }
    if (!verifierMatches({ challenge: flow.codeChallenge, method: flow.codeChallengeMethod }, verifier)) {
      throw new AuthError('bad_code_verifier');
    }
    // The user first, as GoTrue finds it before it destroys the flow: a code of a user no id finds
    // (deleted, soft-deleted, of another GoTrue instance) is refused unspent, as a wrong code is.
    const user = await this.deps.store.findUserById(flow.userId);
    if (user === null) throw new AuthError('flow_state_not_found');
    // Before the spend: a change committed after this read either ended the flow first (the spend
    // finds none) or comes after the spend, and assertPasswordStands sees it.
    const passwordHash = await this.deps.store.getPasswordHash(user.id);
    await admit(user);
    // A ban committed since `admit` read the user refuses in the spending write (user_banned), the
    // flow kept: spent, then refused, the code was gone for a racing exchange until stored again.
    if (!(await this.deps.flowStates.consumeFlowState(flow.id, codeHash, { unlessBannedAt: now }))) {
      throw new AuthError('flow_state_not_found');
    }
    return {
      flow,
      exchanged: {
        user,
        authenticationMethod: flow.authenticationMethod,
        providerTokens: this.providerTokens(flow),
        pendingLink: flow.pendingLink === null ? null : parsePendingLink(flow.pendingLink),
        passwordHash,
      },
    };
  }

  /** The flow's provider tokens, opened; none when it has none or they do not open (another key). */
  private providerTokens(flow: FlowState): ExchangedProviderTokens | null {
    const { providerTokenSeal: seal } = this.deps;
    const accessToken =
      flow.providerAccessToken === null ? null : seal.open(flow.providerAccessToken, flow.id);
    if (accessToken === null) return null;
    const refreshToken =
      flow.providerRefreshToken === null ? null : seal.open(flow.providerRefreshToken, flow.id);
    return { accessToken, refreshToken };
  }

  /**
   * Ends every flow of this user but `keptFlowId`: a code issued to one (an OAuth sign-in's, a
   * linkIdentity's) or to come exchanges for nothing. Returns how many went.
   */
  endFlowsOf(userId: string, keptFlowId: string | null): Promise<number> {
    return this.deps.flowStates.endFlowStatesOf(userId, keptFlowId);
  }

  /** The upkeep: flows whose code or link can no longer be used. Returns how many went. */
  prune(now: Date): Promise<number> {
    const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
    return this.deps.flowStates.pruneFlowStates({
      issuedBefore: ago(AUTH_CODE_LIFETIME_SECONDS),
      createdBefore: ago(Math.max(this.deps.settings.linkTtl, AUTH_CODE_LIFETIME_SECONDS)),
    });
  }
}

/** GoTrue marks a PKCE mail's link token with this prefix (`pkce_<token>`), which the verify routes strip. */
export const PKCE_TOKEN_PREFIX = 'pkce_';

/** A link token as the mail carries it, and whether it ends a PKCE flow. */
export function splitLinkToken(token: string): { linkToken: string; pkce: boolean } {
  return token.startsWith(PKCE_TOKEN_PREFIX)
    ? { linkToken: token.slice(PKCE_TOKEN_PREFIX.length), pkce: true }
    : { linkToken: token, pkce: false };
}
