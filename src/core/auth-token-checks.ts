import { AuthUseCase } from './auth-use-case.js';
import type { CheckResult } from './auth-types.js';
import { AuthError, TOKEN_USER_NOT_FOUND } from './errors.js';
import type { MfaFactor, Session, TokenStanding, User } from './ports/store.js';
import { type AccessClaims, TokenError } from './tokens.js';
import { namesOnlyUser } from './named-user.js';

/**
 * An access token checked and honoured: its signature, its session live and its user's, the user
 * not banned nor the token outdated by a password change, its audience the user's.
 */
export class TokenChecks extends AuthUseCase {
  /**
   * Verifies an access token and that it is still honoured: its session is
   * live and the user's token version has not moved on (password change).
   * When the request also names a user (`namedUser`), the token must be that user's.
   */
  async check(accessToken: string, namedUser: string | null = null): Promise<CheckResult> {
    const { claims, user, session } = await this.checkFinding(accessToken, namedUser, async (id) => {
      const found = await this.deps.store.findUserById(id, { signingIn: true });
      return found && { user: found, factors: [] };
    });
    return { claims, user, session };
  }

  /** check, with the user's MFA factors read in the same lookup as the user (GET /user answers them). */
  checkWithFactors(accessToken: string): Promise<CheckResult & { factors: MfaFactor[] }> {
    return this.checkFinding(accessToken, null, (id) => this.deps.store.findUserWithFactors(id));
  }

  /** check's steps, the user read by `find` (with its factors, or none when it does not read them). */
  private async checkFinding(
    accessToken: string,
    namedUser: string | null,
    find: (id: string) => Promise<{ user: User; factors: MfaFactor[] } | null>,
  ): Promise<CheckResult & { factors: MfaFactor[] }> {
    const now = this.now();
    const claims = this.deps.tokens.verifyNow(accessToken, now);
    const [session, found] = await Promise.all([
      this.deps.store.findSession(claims.session_id),
      find(claims.sub),
    ]);
    if (!found) await this.refuseMissingUser(claims.sub, session);
    this.assertHonoured(claims, { session, user: found?.user ?? null }, now);
    // Both found: assertHonoured refuses a missing one.
    await this.assertNamed(found!.user, namedUser);
    return { claims, user: found!.user, session: session!, factors: found!.factors };
  }

  /**
   * check for a caller that needs only the claims (the data API, a token's validity): the same rules,
   * on what the store's findTokenStanding reads, so a request does not pay for whole records it would
   * not look at. Revocation stays immediate: the session and user are read on every call.
   */
  async authorize(accessToken: string, namedUser: string | null = null): Promise<AccessClaims> {
    return (await this.authorizeCaller(accessToken, namedUser)).claims;
  }

  /**
   * authorize, also telling whether the token's user is anonymous as the store says now: a claim can
   * be absent (another dialect's token of the same session) or out of date (the user made permanent
   * since), and the store is read for the check anyway.
   */
  async authorizeCaller(
    accessToken: string,
    namedUser: string | null = null,
  ): Promise<{ claims: AccessClaims; isAnonymous: boolean }> {
    const now = this.now();
    const claims = this.deps.tokens.verifyNow(accessToken, now);
    const standing = await this.deps.store.findTokenStanding(claims.session_id, claims.sub);
    if (!standing.user) await this.refuseMissingUser(claims.sub, standing.session);
    this.assertHonoured(claims, standing, now);
    // assertHonoured refuses a missing user.
    await this.assertNamed(standing.user!, namedUser);
    return { claims, isAnonymous: standing.user!.isAnonymous };
  }

  /**
   * Refuses a token whose user the sign-in lookup did not find, as GoTrue's requireAuthentication
   * does (FindUserByID before the session): user_not_found when no user of this instance has the id
   * (deleted, or another instance's) or its session is still live (soft-deleted where no trigger ended
   * it); a soft-deleted user's ended session stays an ended session. A read on this rare path only.
   */
  private async refuseMissingUser(id: string, session: Pick<Session, 'revokedAt'> | null): Promise<never> {
    const kept = await this.deps.store.findUserById(id);
    if (kept === null || (session !== null && session.revokedAt === null))
      throw new AuthError('token_revoked', TOKEN_USER_NOT_FOUND);
    throw new AuthError('token_revoked', 'User no longer exists');
  }

  /** check's rules: the token's session is live and its user's, the user not banned nor the token outdated. */
  private assertHonoured(claims: AccessClaims, { session, user }: TokenStanding, now: Date): void {
    // Its callers refused a missing user first (refuseMissingUser): this narrows the type.
    if (!user) throw new AuthError('token_revoked', 'User no longer exists');
    if (!session || session.userId !== user.id) throw new AuthError('session_not_found');
    this.deps.sessions.assertLive(session, now);
    this.assertNotBanned(user, now);
    if (claims.token_version !== user.tokenVersion) {
      throw new AuthError('token_revoked', 'Token was issued before a password change');
    }
    // One audience rule for every dialect: a token is for its user's audience (see sign). One that
    // says another (signed for this audience before the rule, or before the user's aud changed) is
    // refused even where no audience is configured; one with none predates audiences altogether.
    if (user.aud !== null && claims.aud !== undefined && claims.aud !== user.aud)
      throw new TokenError('bad_jwt', 'jwt aud invalid');
  }

  /** Refuses a token that is not the named user's, checked after assertHonoured (see namesOnlyUser). */
  private async assertNamed(
    user: Pick<User, 'id' | 'username' | 'email'>,
    namedUser: string | null,
  ): Promise<void> {
    if (namedUser !== null && !(await namesOnlyUser(this.deps.store, user, namedUser)))
      throw new AuthError('bad_jwt', 'token does not belong to this user');
  }
}
