import { AuthUseCase } from './auth-use-case.js';
import type { SessionIssuer } from './auth-session-issuer.js';
import { CredentialsRefused, type Credentials } from './auth-credentials.js';
import { authMethodOf, type AuthDeps, type IssuedSession, type ExtraClaims } from './auth-types.js';
import { AuthError, isAuthError } from './errors.js';
import type { Session, User } from './ports/store.js';
import type { Client } from './audit.js';
import type { KnownClientRecord } from './ports/rate-limits.js';

/** The password sign-in: the credentials proven, then the sign-in's writes and its session. */
export class PasswordSignIn extends AuthUseCase {
  constructor(
    deps: AuthDeps,
    private readonly issuer: SessionIssuer,
    private readonly credentials: Credentials,
  ) {
    super(deps);
  }

  /**
   * Signs in with a user name or an email address. A wrong password and an
   * unknown user get the same error after the same amount of hashing work.
   */
  async signIn(
    client: Client,
    login: string,
    password: string,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    return this.issuer.observed('password', () =>
      this.signInWithPassword(client, login, password, extraClaims),
    );
  }

  private async signInWithPassword(
    client: Client,
    login: string,
    password: string,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    let user: User;
    let provenHash: string;
    try {
      ({ user, hash: provenHash } = await this.credentials.proveCredentials(login, password, client));
    } catch (error) {
      if (error instanceof CredentialsRefused) {
        await this.deps.audit?.record('sign_in_failed', client, { userId: error.userId, actorId: null });
      }
      throw error;
    }
    // Checked after the password, so the answer tells nothing to someone without it.
    if (this.mustConfirm(user)) throw new AuthError('email_not_confirmed');
    const now = this.now();
    // GoTrue answers a banned user's sign-in 400 (403 everywhere else).
    this.assertNotBanned(user, now, 400);
    this.issuer.assertRoleMaySign(user);
    const signedIn = await this.guessesOf(client)
      .opening(user.id, now, (known) =>
        this.recordSignIn(client, user, provenHash, now, authMethodOf(extraClaims, 'password'), known),
      )
      .catch((error: unknown) => {
        // The password was replaced after it was verified (Store.openSignIn): a wrong one's answer.
        if (isAuthError(error) && error.code === 'invalid_credentials') throw new CredentialsRefused(user.id);
        // A ban committed after the user was read: the store opened no session (Store.createSession).
        if (isAuthError(error) && error.code === 'user_banned')
          throw new AuthError('user_banned', undefined, { status: 400 });
        throw error;
      });
    return this.issuer.issue(signedIn.user, signedIn.session, signedIn.refreshToken, now, extraClaims);
  }

  /**
   * A password sign-in's writes: last_sign_in_at, the session, the audit event. A store that writes
   * them at once (Store.openSignIn: one statement on PostgreSQL) commits them together, the event
   * included; otherwise the user and the session are started together (the file store writes both in
   * one commit), then the event is recorded.
   */
  private async recordSignIn(
    client: Client,
    user: User,
    provenHash: string,
    now: Date,
    authMethod: string,
    knownClient: KnownClientRecord | null,
  ): Promise<{ user: User; session: Session; refreshToken: string }> {
    const audited = { userId: user.id, data: { via: 'password' } };
    const { store, sessions, audit } = this.deps;
    if (store.openSignIn) {
      const { session, refreshToken } = sessions.prepare(user.id, now, authMethod);
      const event = audit?.event('sign_in', client, audited) ?? null;
      const opened = await store.openSignIn({
        lastSignInAt: now,
        session,
        audit: event,
        provenHash,
        knownClient,
      });
      if (event) await audit?.stored(event);
      return { ...opened, refreshToken };
    }
    const [signedIn, opened] = await Promise.all([
      store.updateUser(user.id, { lastSignInAt: now }),
      sessions.start(user.id, now, authMethod, knownClient),
    ]);
    // Read after the session is written: a change committed before it ended no session of this
    // sign-in's, and is seen here; one committed after it ended this session too.
    if ((await store.getPasswordHash(user.id)) !== provenHash) {
      await store.revokeSession(opened.session.id, 'password_changed', now);
      throw new AuthError('invalid_credentials');
    }
    await audit?.record('sign_in', client, audited);
    return { user: signedIn, session: opened.session, refreshToken: opened.refreshToken };
  }
}
