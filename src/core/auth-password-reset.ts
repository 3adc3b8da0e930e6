import { AuthUseCase } from './auth-use-case.js';
import type { SessionIssuer } from './auth-session-issuer.js';
import type { Credentials } from './auth-credentials.js';
import type { AuthDeps, IssuedSession, ExtraClaims } from './auth-types.js';
import { AuthError } from './errors.js';
import { checkEmail, namesUser } from './identity.js';
import type { Client } from './audit.js';

/** Forgotten credentials: a password reset by mailed token or code, and a user name reminded by mail. */
export class PasswordReset extends AuthUseCase {
  constructor(
    deps: AuthDeps,
    private readonly issuer: SessionIssuer,
    private readonly credentials: Credentials,
  ) {
    super(deps);
  }

  /**
   * Mails a single-use reset token and its code to the account named by `login` (user name or
   * email), if it exists and has an address: the one recovery token of EmailFlows, throttled
   * per account as every such mail. The answer is the same, and comes as fast, either way: the
   * mail work happens after it.
   */
  async requestPasswordReset(login: string): Promise<void> {
    // Before the lookup, for every login alike: the mail must not be promised while it cannot be stored.
    await this.deps.store.assertWritable();
    const user = await this.credentials.findByLogin(login);
    if (!user || user.email === null) return;
    const recipient = { ...user, email: user.email };
    this.background(() => this.deps.emailFlows.sendResetToken(recipient));
  }

  /**
   * Sets a new password with a mailed reset token, or its code with the account named. The token
   * is consumed before the password changes, so it works once and only once even under races;
   * every session ends and a new one is opened.
   */
  async resetPassword(
    client: Client,
    input: {
      token: string;
      newPassword: string;
      /** When the caller also names the account (postgrest-auth), it must be the token's. */
      login?: string;
      extraClaims?: ExtraClaims;
    },
  ): Promise<IssuedSession> {
    this.deps.hasher.assertAcceptable(input.newPassword);
    // A code is bound to its address: only the account named can be the one it was mailed to.
    const named = input.login === undefined ? null : await this.credentials.findByLogin(input.login);
    const consumed = await this.deps.emailFlows.consumeResetSecret(input.token, named?.email ?? null);
    const owner = consumed && (await this.deps.store.findUserById(consumed.userId));
    // A token presented with another account's name is spent all the same: it has been exposed.
    if (!consumed || !owner || (input.login !== undefined && !namesUser(owner, input.login)))
      throw new AuthError('otp_expired');
    const now = this.now();
    // Refused by the write (a verified MFA factor), by a ban committed since the spend, or the hashing
    // pool full, the token works again once that is over (spentOn). Judged outside, a ban between the
    // spend's own check and this one spent it.
    const user = await this.deps.emailFlows.changePasswordSpent(
      client,
      consumed,
      input.newPassword,
      now,
      () => this.assertNotBanned(owner, this.now()),
    );
    await this.deps.audit?.record('password_recovered', client, { userId: user.id, data: { via: 'token' } });
    return this.issuer.openSession(client, user, now, input.extraClaims, 'recovery');
  }

  /** Mails the user name to the account with this address, if there is one; same answer either way. */
  async remindUsername(email: string): Promise<void> {
    const address = checkEmail(email);
    await this.deps.store.assertWritable();
    const user = await this.deps.store.findUserByEmail(address);
    if (!user || user.email === null || user.username === null) return;
    const recipient = { ...user, email: user.email, username: user.username };
    // A banned account gets no mail, nor one banned, deleted or moved since this lookup (see there).
    this.background(() => this.deps.emailFlows.sendUsernameReminder(recipient));
  }
}
