import { AuthUseCase } from './auth-use-case.js';
import {
  authMethodOf,
  type AuthDeps,
  type IssuedAccessToken,
  type IssuedSession,
  type ExtraClaims,
} from './auth-types.js';
import { AuthError } from './errors.js';
import type { Session, User } from './ports/store.js';
import type { Client } from './audit.js';
import type { SignInMethod } from './ports/events.js';

/**
 * Sessions opened and access tokens signed: every use case that answers a session ends here, so no
 * banned user, and no user whose role is reserved, gets one; and each sign-in's outcome is counted.
 */
export class SessionIssuer extends AuthUseCase {
  private readonly reservedRoles: ReadonlySet<string>;

  constructor(deps: AuthDeps) {
    super(deps);
    // Lower-cased once: every token signed is checked against them (sign).
    this.reservedRoles = new Set((deps.settings.reservedRoles ?? []).map((name) => name.toLowerCase()));
  }

  /**
   * Opens a session for an account whose identity was proven another way: a mailed link or code
   * (`email`), a PKCE code exchanged, or a sign-up that needs no confirmation. Counted by method.
   */
  async startSession(
    client: Client,
    user: User,
    extraClaims?: ExtraClaims,
    method: Exclude<SignInMethod, 'password' | 'anonymous'> = 'email',
  ): Promise<IssuedSession> {
    return this.observed(method, async () => {
      const now = this.now();
      // Before the sign-in's write: a refused user's last_sign_in_at moved and a sign_in was audited.
      await this.assertMayStartSession(user, now);
      // A ban committed since the user was read refuses it here (Store.updateUser's unlessBannedAt).
      const signedIn = await this.deps.store.updateUser(
        user.id,
        { lastSignInAt: now },
        { unlessBannedAt: now },
      );
      await this.deps.audit?.record('sign_in', client, { userId: user.id, data: { via: method } });
      // A mailed link or code is GoTrue's otp unless the dialect names it (magiclink, recovery ...).
      return this.openSession(client, signedIn, now, extraClaims, 'otp');
    });
  }

  /** Reports a sign-in's outcome (its error code when refused) to the observer (metrics). */
  async observed(method: SignInMethod, signIn: () => Promise<IssuedSession>): Promise<IssuedSession> {
    try {
      const issued = await signIn();
      this.events.signIn('success', method);
      return issued;
    } catch (error) {
      this.events.signIn(error instanceof AuthError ? error.code : 'error', method);
      throw error;
    }
  }

  /**
   * Refuses what startSession would: a banned user (user_banned), a reserved role (forbidden), one with a verified MFA factor
   * (insufficient_aal, as the store's session-opening write refuses it; that write still decides a
   * factor verified since). Asked also before a mailed link hands on a PKCE code instead of a
   * session: the code's exchange was refused after the link and the code were both spent.
   */
  async assertMayStartSession(user: User, now: Date = this.now()): Promise<void> {
    this.assertNotBanned(user, now);
    this.assertRoleMaySign(user);
    const factors = await this.deps.store.listMfaFactors(user.id);
    if (factors.some((factor) => factor.status === 'verified')) throw new AuthError('insufficient_aal');
  }

  async openSession(
    client: Client,
    user: User,
    now: Date,
    extraClaims: ExtraClaims | undefined,
    authMethod: string,
  ): Promise<IssuedSession> {
    // Every session opens here or in signIn: none for a banned user (a password change or reset included).
    this.assertNotBanned(user, now);
    this.assertRoleMaySign(user);
    const { session, refreshToken } = await this.guessesOf(client).opening(user.id, now, (known) =>
      this.deps.sessions.start(user.id, now, authMethodOf(extraClaims, authMethod), known),
    );
    return this.issue(user, session, refreshToken, now, extraClaims);
  }

  async issue(
    user: User,
    session: Session,
    refreshToken: string,
    now: Date,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    return { user, session, refreshToken, ...(await this.sign(user, session, now, extraClaims)) };
  }

  async sign(user: User, session: Session, now: Date, extraClaims?: ExtraClaims): Promise<IssuedAccessToken> {
    this.assertRoleMaySign(user);
    const signed = await this.deps.tokens.sign(
      {
        ...(extraClaims ? extraClaims(user, session) : {}),
        // The user's own audience (auth.users.aud, as GoTrue signs it), whatever the dialect and its
        // claims: a user made for another audience in the same auth.users gets no token for this one.
        // A store keeping none (the file store): the configured one, which TokenService adds.
        ...(user.aud !== null ? { aud: user.aud } : {}),
        // GoTrue's claim, which RLS policies read to keep anonymous users out: every dialect's token of
        // an anonymous user says it, or exchanging its refresh token at another route shed it.
        ...(user.isAnonymous ? { is_anonymous: true } : {}),
        sub: user.id,
        role: user.role ?? this.deps.settings.authenticatedRole,
        session_id: session.id,
        token_version: user.tokenVersion,
      },
      now,
      // No token outlives its session: a renewed one (postgrest-auth's bearer refresh) ends with it.
      session.notAfter,
    );
    const { token, ...claims } = signed;
    return { accessToken: token, expiresIn: claims.exp - claims.iat, expiresAt: claims.exp, claims };
  }

  /**
   * An account made before such names were refused at sign-up (ownRoleFor) may still hold one: no
   * token claims it, whatever the path (sign-in, refresh, link, bearer re-issue). Asked before a
   * sign-in writes too, so a refused one opens no session and moves no last_sign_in_at.
   */
  assertRoleMaySign(user: Pick<User, 'role'>): void {
    if (user.role !== null && this.isReservedRole(user.role)) {
      throw new AuthError(
        'forbidden',
        "This account's database role is reserved: an administrator must remove it",
      );
    }
  }

  isReservedRole(role: string): boolean {
    return this.reservedRoles.has(role.toLowerCase());
  }
}
