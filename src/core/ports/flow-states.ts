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
}

export type NewFlowState = Omit<FlowState, 'authCodeHash' | 'authCodeIssuedAt'>;

export interface FlowStateStore {
  createFlowState(flow: NewFlowState): Promise<void>;
  /**
   * Gives the user's newest flow of `authenticationMethod` created after `createdAfter` the auth code
   * `authCodeHash`, issued `now` (a code it had before stops working); returns the flow as it is
   * afterwards, or null when there is none. One statement: the flow GoTrue would pick (its newest).
   */
  issueFlowAuthCode(
    userId: string,
    authenticationMethod: string,
    authCodeHash: string,
    now: Date,
    createdAfter: Date,
  ): Promise<FlowState | null>;
  /** The flow whose auth code hashes to `authCodeHash`, not consumed; null when none. */
  findFlowStateByAuthCode(authCodeHash: string): Promise<FlowState | null>;
  /**
   * Deletes flow `id` while its auth code is still `authCodeHash`, in one step; returns whether this
   * call deleted it. Of exchanges racing for one code, exactly one gets true.
   */
  consumeFlowState(id: string, authCodeHash: string): Promise<boolean>;
  /**
   * Deletes the flows whose code was issued before `issuedBefore`, and those never issued a code
   * created before `createdBefore`. Returns how many.
   */
  pruneFlowStates(cutoffs: { issuedBefore: Date; createdBefore: Date }): Promise<number>;
}
