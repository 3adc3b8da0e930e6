import { assertAddressFree } from './address-owner.js';
import type { AuditLog, Client } from './audit.js';
import type { EmailFlows } from './email-flows.js';
import { AuthError } from './errors.js';
import { assertNotBanned } from './banned.js';
import { checkEmail } from './identity.js';
import type { ProviderClaims } from './oauth/provider.js';
import type { Store, User } from './ports/store.js';
import type { SessionManager } from './sessions.js';

export interface IdentityLinkingDeps {
  store: Pick<
    Store,
    'findIdentity' | 'findUserById' | 'findUserByEmail' | 'linkIdentity' | 'updateUser' | 'findTokenStanding'
  >;
  sessions: Pick<SessionManager, 'assertLive'>;
  audit: Pick<AuditLog, 'record'>;
  emailFlows: Pick<EmailFlows, 'admitEmailChange' | 'startEmailChange'>;
  clock: () => Date;
}

/** What a flow linkIdentity started hands over: at its callback (implicit) or its code's exchange (PKCE). */
export interface IdentityToLink {
  /** The user who started GET /user/identities/authorize (the flow's linking target). */
  targetUserId: string;
  /** The session that started it (null: a flow stored before sessions were kept, refused). */
  sessionId: string | null;
  provider: string;
  claims: ProviderClaims;
  /** identity_data as GoTrue writes it for these claims. */
  identityData: Record<string, unknown>;
  /** Where the confirmation mail of an unverified address leads (the flow's redirect). */
  redirectTo: string | null;
}

/**
 * Manual linking's second half (GoTrue's linkIdentityToUser, internal/api/identity.go): a flow
 * that GET /user/identities/authorize started links the identity to that user instead of signing
 * anyone in: at the exchange of its code with PKCE (oauth/pending-link.ts), else at the provider's
 * callback (identities.implicitLinking).
 *
 * - An identity that is already someone's is refused: 422 identity_already_exists, "Identity is
 *   already linked" when it is the user's own, "... to another user" otherwise; the store refuses
 *   a second user atomically too, however many link it at once.
 * - A user without an address (an anonymous one) takes the provider's: a verified one at once,
 *   which makes an anonymous user permanent (is_anonymous false), as GoTrue; an unverified one is
 *   mailed a confirmation (the email-change mail: confirming sets the address and ends
 *   anonymity), and the callback answers 422 email_not_confirmed, as GoTrue does. An address
 *   another user has is refused (email_exists) before anything is written.
 * - The session that started the flow must still be live (session_not_found, session_expired):
 *   the flow outlives no sign-out, password change or ban, or a stolen token's thief could finish
 *   it after the owner ended that token, and get the identity and a new session.
 */
export class IdentityLinking {
  constructor(private readonly deps: IdentityLinkingDeps) {}

  async link(client: Client, input: IdentityToLink): Promise<User> {
    const { store } = this.deps;
    const { targetUserId, provider, claims } = input;
    const sessionId = await this.assertStarterLive(targetUserId, input.sessionId);
    const existing = await store.findIdentity(provider, claims.subject);
    if (existing !== null) {
      throw new AuthError(
        'identity_already_exists',
        existing.userId === targetUserId
          ? 'Identity is already linked'
          : 'Identity is already linked to another user',
      );
    }
    const user = await store.findUserById(targetUserId);
    if (user === null) throw new AuthError('user_not_found');
    // Banned since it started the flow (its token was checked then, not at the provider's callback).
    assertNotBanned(user, this.deps.clock());
    const takesAddress = user.email === null && claims.email !== null;
    const address = takesAddress ? checkEmail(claims.email!) : null;
    if (address !== null && claims.emailVerified) await assertAddressFree(store, address, user.id);
    // An unverified one is mailed: that change's refusals (another user's address, the recipient's
    // allowance) come before the identity is written too, not after it is linked.
    const mailTo =
      address !== null && !claims.emailVerified
        ? await this.deps.emailFlows.admitEmailChange(user, address)
        : null;

    const now = this.deps.clock();
    // The starter's session is judged again in each write it licenses (a look above alone left the
    // time of the reads between for a sign-out, a password change or a ban to land first, and the
    // thief of a token its owner had ended linked their identity all the same): session_not_found.
    const whileSessionLive = { sessionId, at: now };
    const identity = await store.linkIdentity(
      {
        userId: user.id,
        provider,
        providerId: claims.subject,
        identityData: input.identityData,
        now,
      },
      { whileSessionLive },
    );
    await this.deps.audit.record('identity_linked', client, {
      userId: user.id,
      data: { identity_id: identity.id, provider, provider_id: claims.subject },
    });
    if (address === null) return user;

    if (!claims.emailVerified) {
      // Bound to the session that started the flow: its end (a sign-out after a stolen token) ends
      // the change too, as a change asked at PUT /user is (EmailFlows.assertAskingSessionLive).
      if (mailTo !== null) {
        await this.deps.emailFlows.startEmailChange(user, mailTo, input.redirectTo, null, input.sessionId);
      }
      throw new AuthError(
        'email_not_confirmed',
        `Unverified email with ${provider}. A confirmation email has been sent to your ${provider} email`,
        { status: 422 },
      );
    }
    // Should another user take the address in between, this refuses (email_exists) and the identity
    // stays linked to a user still without an address: it signs in with the provider as before.
    // The address is the provider identity's: no `email` identity, as GoTrue's UpdateUserEmailFromIdentities.
    // A ban committed since the check above refuses the write (user_banned), as every sign-in's.
    // Its session ended since the link (session_not_found) leaves the identity linked, as above.
    return store.updateUser(
      user.id,
      { email: address, emailConfirmedAt: now, isAnonymous: false, emailIdentity: false },
      { unlessBannedAt: now, whileSessionLive },
    );
  }

  /**
   * The access-token check's session rule (AuthService.check), for the session that started the flow:
   * its id, for the writes to judge it again.
   */
  private async assertStarterLive(userId: string, sessionId: string | null): Promise<string> {
    if (sessionId === null) throw new AuthError('session_not_found');
    const { session } = await this.deps.store.findTokenStanding(sessionId, userId);
    if (session === null || session.userId !== userId) throw new AuthError('session_not_found');
    this.deps.sessions.assertLive(session, this.deps.clock());
    return sessionId;
  }
}
