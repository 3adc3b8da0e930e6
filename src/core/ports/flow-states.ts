/**
 * The flow-state port: what a PKCE flow (RFC 7636) keeps between the request
 * that starts it (a sign-up, magic link, recovery or email change carrying a
 * `code_challenge`) and the exchange of its auth code (`grant_type=pkce`).
 * Each backend provides it on its own storage (PostgreSQL: GoTrue's
 * `auth.flow_state`; the file store: credentials.json), and passes the one
 * contract suite, test/contract/store/flow-states-contract.ts.
 *
 * Stores only keep dates: how long a flow or its code lives is core's policy
 * (core/flow-states.ts). The auth code arrives hashed (SHA-256), as every secret.
 */

/** How the challenge was made from the verifier (GoTrue's enum `auth.code_challenge_method`). */
export type CodeChallengeMethod = 's256' | 'plain';

export interface FlowState {
  id: string;
  userId: string;
  /** SHA-256 of the auth code, once the flow's link was used (issueFlowAuthCode); null until then. */
  authCodeHash: string | null;
  codeChallenge: string;
  codeChallengeMethod: CodeChallengeMethod;
  /** GoTrue's authentication method of the flow: 'email/signup', 'magiclink', 'recovery', 'email_change', 'invite'. */
  authenticationMethod: string;
  /** GoTrue's provider_type: 'email' for the flows that go through a mailbox. */
  providerType: string;
  createdAt: Date;
  authCodeIssuedAt: Date | null;
  /**
   * An OAuth flow's provider tokens (GoTrue's provider_access_token, provider_refresh_token), for
   * the exchange's answer: sealed by core (core/oauth/provider-token-seal.ts), opaque to stores;
   * null for the mailed links' flows and where the provider gave none.
   */
  providerAccessToken: string | null;
  providerRefreshToken: string | null;
  /**
   * A linkIdentity flow's identity, linked when its code is exchanged (core/oauth/pending-link.ts):
   * written by core, opaque to stores; null for every other flow.
   */
  pendingLink: string | null;
}

/** What a flow may start without: its code (an OAuth callback's starts with it), provider tokens, pending link. */
type FlowStateOptionals =
  'authCodeHash' | 'authCodeIssuedAt' | 'providerAccessToken' | 'providerRefreshToken' | 'pendingLink';

/** A flow to create; one that starts with its code issued (an OAuth callback's) gives both, and its provider's tokens. */
export type NewFlowState = Omit<FlowState, FlowStateOptionals> & Partial<Pick<FlowState, FlowStateOptionals>>;

/**
 * An OAuth sign-in between GET /authorize and the provider's callback: GoTrue's flow state of an
 * `oauth` flow whose user is not known yet. Its id is the `state` the provider hands back.
 */
export interface OAuthFlow {
  id: string;
  /** The provider's name (GoTrue's provider_type). */
  providerType: string;
  /** The app's PKCE challenge: the callback then redirects with `?code=`; null: the implicit flow. */
  codeChallenge: string | null;
  codeChallengeMethod: CodeChallengeMethod | null;
  /** Where the callback leads (GoTrue's referrer): an allowed redirect_to, or null for the site URL. */
  referrer: string | null;
  /** The signed-in user the new identity is linked to (linkIdentity; GoTrue's linking_target_id); null: a sign-in. */
  linkingTargetId: string | null;
  /**
   * The session that started linkIdentity: the callback links only while it is live, so a flow a
   * stolen token started dies when the owner signs out or changes the password. null for a
   * sign-in, and for a link flow stored before the column was (refused at the callback).
   */
  linkingSessionId: string | null;
  createdAt: Date;
}

/** What consumeFlowState spends a flow only under (see there). */
export interface FlowSpendConditions {
  unlessBannedAt?: Date;
}

export interface FlowStateStore {
  createFlowState(flow: NewFlowState): Promise<void>;
  /**
   * Gives flow `id`, when it is `userId`'s and was created after `createdAfter`, the auth code
   * `authCodeHash`, issued `now` (a code it had before stops working); returns the flow as it is
   * afterwards, or null when there is no such flow. One statement.
   */
  issueFlowAuthCode(
    id: string,
    userId: string,
    authCodeHash: string,
    now: Date,
    createdAfter: Date,
  ): Promise<FlowState | null>;
  /** The flow whose auth code hashes to `authCodeHash`, not consumed; null when none. */
  findFlowStateByAuthCode(authCodeHash: string): Promise<FlowState | null>;
  /**
   * Deletes flow `id` while its auth code is still `authCodeHash`, in one step; returns whether this
   * call deleted it. Of exchanges racing for one code, exactly one gets true. With `unlessBannedAt`,
   * a flow whose user is banned at that date is refused with AuthError('user_banned') and kept, judged
   * in the deleting write on the user as committed: a ban after the caller's check spends nothing.
   */
  consumeFlowState(id: string, authCodeHash: string, conditions?: FlowSpendConditions): Promise<boolean>;
  /** Keeps an OAuth sign-in until its callback (authentication_method `oauth`, no user yet). */
  createOAuthFlow(flow: OAuthFlow): Promise<void>;
  /**
   * Deletes the pending OAuth flow `id` and returns it, in one step; null when there is none
   * (unknown, or already taken). Of callbacks racing with one state, exactly one gets it.
   */
  takeOAuthFlow(id: string): Promise<OAuthFlow | null>;
  /**
   * Deletes every flow of user `userId` but `keptFlowId` (null: every one): their codes, issued or
   * to come, exchange for nothing. What the holder of an anonymous account started goes once another
   * proved its address (EmailFlows). Returns how many went. One statement (one transaction).
   */
  endFlowStatesOf(userId: string, keptFlowId: string | null): Promise<number>;
  /**
   * Deletes the flows whose code was issued before `issuedBefore`, and those never issued a code
   * (pending OAuth flows included) created before `createdBefore`. Returns how many.
   */
  pruneFlowStates(cutoffs: { issuedBefore: Date; createdBefore: Date }): Promise<number>;
  /**
   * Records the id_token whose signed part hashes to `hash` as spent, kept until `keepUntil` (its
   * expiry); returns false when it was spent already (a replay). Of racing calls, exactly one gets true.
   */
  spendIdToken(hash: string, keepUntil: Date): Promise<boolean>;
  /** Forgets the spent id_tokens kept until before `now` (they no longer verify). Returns how many. */
  pruneSpentIdTokens(now: Date): Promise<number>;
}
