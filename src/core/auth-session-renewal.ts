import { AuthUseCase } from './auth-use-case.js';
import type { SessionIssuer } from './auth-session-issuer.js';
import type {
  AuthDeps,
  IssuedAccessToken,
  IssuedSession,
  ExtraClaims,
  CheckResult,
  SignOutScope,
} from './auth-types.js';
import { AuthError } from './errors.js';
import { hashSecret } from './secrets.js';
import type { SessionManager } from './sessions.js';
import { namesOnlyUser } from './named-user.js';
import type { Client } from './audit.js';

/** A session kept or ended: its refresh token rotated, its access token re-issued, a sign-out. */
export class SessionRenewal extends AuthUseCase {
  constructor(
    deps: AuthDeps,
    private readonly issuer: SessionIssuer,
  ) {
    super(deps);
  }

  /**
   * Rotates a refresh token into a new session answer. When the request also names a user
   * (`namedUser`, see namesUser) the token must be that user's: another's token is refused and
   * its session ends, as the token has leaked.
   */
  async refresh(
    client: Client,
    refreshToken: string,
    extraClaims?: ExtraClaims,
    namedUser: string | null = null,
  ): Promise<IssuedSession> {
    const now = this.now();
    let rotated: Awaited<ReturnType<SessionManager['rotate']>>;
    try {
      rotated = await this.deps.sessions.rotate(refreshToken, now);
    } catch (error) {
      if (error instanceof AuthError && error.code === 'refresh_token_reused') {
        this.events.refreshTokenReused();
        const found = await this.deps.store.findRefreshToken(hashSecret(refreshToken));
        await this.deps.audit?.record('refresh_token_reused', client, {
          userId: found?.session.userId ?? null,
          actorId: null,
          data: { sessionId: found?.session.id },
        });
      }
      throw error;
    }
    const { session, user, refreshToken: successor, identities } = rotated;
    // rotate refused a gone or banned user before it spent the token (assertSignsIn).
    if (!user) throw new AuthError('session_not_found');
    if (namedUser !== null && !(await namesOnlyUser(this.deps.store, user, namedUser))) {
      await this.signOut(client, session.id, user.id, 'local');
      throw new AuthError('refresh_token_not_found', 'Refresh token does not belong to this user');
    }
    const issued = await this.issuer.issue(user, session, successor, now, extraClaims);
    return identities ? { ...issued, identities } : issued;
  }

  /** A new access token for a session that is still honoured (see check), without rotating anything. */
  async reissue(checked: CheckResult, extraClaims?: ExtraClaims): Promise<IssuedAccessToken> {
    const now = this.now();
    // The session rules of a rotating refresh: an idle session ends rather than living on by
    // re-issue, and a re-issue is activity (postgrest-auth's clients have no other refresh).
    await this.deps.sessions.recordActivity(checked.session.id, now);
    return this.issuer.sign(checked.user, checked.session, now, extraClaims);
  }

  /** Ends the session of `claims` (local), every session (global) or all others. */
  async signOut(
    client: Client,
    sessionId: string,
    userId: string,
    scope: SignOutScope = 'local',
  ): Promise<void> {
    const now = this.now();
    await this.deps.audit?.record('logout', client, { userId, data: { scope } });
    if (scope === 'local') {
      await this.deps.store.revokeSession(sessionId, 'logout', now);
      return;
    }
    await this.deps.store.revokeUserSessions(userId, scope === 'others' ? sessionId : null, 'logout', now);
  }

  /** Ends the session a refresh token belongs to (logout for clients holding only that). */
  async signOutByRefreshToken(client: Client, refreshToken: string): Promise<void> {
    const now = this.now();
    const session = await this.deps.sessions.findByRefreshToken(refreshToken);
    await this.deps.audit?.record('logout', client, { userId: session.userId, data: { scope: 'local' } });
    await this.deps.store.revokeSession(session.id, 'logout', now);
  }
}
