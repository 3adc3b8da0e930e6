import { AuthUseCase } from './auth-use-case.js';
import type { SessionIssuer } from './auth-session-issuer.js';
import type { Credentials } from './auth-credentials.js';
import type { AuthDeps, IssuedSession, ExtraClaims, CheckResult } from './auth-types.js';
import { assertAddressFree } from './address-owner.js';
import { AuthError } from './errors.js';
import { datedAhead } from './clock-skew.js';
import type { PkceChallenge } from './pkce.js';
import { mergeMetadata } from './metadata.js';
import { updateMerged } from './merged-update.js';
import type { OneTimeToken, User } from './ports/store.js';
import { checkEmail } from './identity.js';
import { checkUserData } from './validation.js';
import { passwordProofOf } from './email-change-proof.js';
import { replacePassword } from './password-replacement.js';
import type { Client } from './audit.js';
import type { KnownClientRecord } from './ports/rate-limits.js';

/** GoTrue's refusal of an aal1 change of an MFA user's address (its UserUpdate). */
const EMAIL_NEEDS_AAL2 = 'AAL2 session is required to update email or password when MFA is enabled.';

/** A session younger than this changes its password without a code, as GoTrue's (24 hours). */
const REAUTHENTICATION_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * A signed-in user's changes to their own account: the password (with the session, the current
 * password or a mailed reauthentication code as proof), the address, their data, and an anonymous
 * user made permanent.
 */
export class OwnAccount extends AuthUseCase {
  constructor(
    deps: AuthDeps,
    private readonly issuer: SessionIssuer,
    private readonly credentials: Credentials,
  ) {
    super(deps);
  }

  /**
   * Changes the password of the caller signed in as `userId` (its session proves it) and ends every
   * other session and every PKCE flow but `keptFlowId` (one the same request started): the caller's
   * session and access token go on. A change proven by the current password is
   * changePasswordWithCurrent's: every password check goes through proveCredentials, so none escapes
   * the per-account guess limit.
   */
  async changePassword(
    client: Client,
    input: { userId: string; newPassword: string; keepSessionId: string; keptFlowId?: string | null },
  ): Promise<User> {
    const user = await this.deps.store.findUserById(input.userId);
    if (!user) throw new AuthError('user_not_found');
    const { changed } = await this.storeNewPassword(
      client,
      user,
      input.newPassword,
      input.keepSessionId,
      undefined,
      input.keptFlowId ?? null,
    );
    return changed;
  }

  /**
   * The signed-in user's changes to their own account (GoTrue's PUT /user): an email change started
   * (both addresses confirm it, see EmailFlows.requestEmailChange), their own data merged in, and
   * the password changed keeping this session. Identity never comes from `data`.
   *
   * Every refusal the request can earn comes before its first write (assertOwnUpdateAcceptable): a
   * password changed, every other session ended, and then the address refused (taken, malformed)
   * answered 4xx for an update that had half happened. The address goes first for the one refusal
   * that cannot be asked ahead without counting (the recipient's mail throttle, 429).
   */
  async updateOwnAccount(
    client: Client,
    checked: Pick<CheckResult, 'user' | 'session'>,
    changes: {
      data?: Record<string, unknown>;
      password?: string;
      email?: string;
      /** The code GET /reauthenticate mailed, when the password change needs one. */
      nonce?: string;
      redirectTo: string | null;
      /** The client's PKCE challenge: the email change's links then end a PKCE flow. */
      pkce?: PkceChallenge | null;
    },
  ): Promise<User> {
    const user = checked.user;
    // With the mailed code to check, the new password is compared with the current one only once the
    // code proved the caller: else a stolen access token's holder learned, by same_password or not,
    // whether each guess was the account's password, as often as they liked and outside the guess limit.
    const reauthenticating = changes.password !== undefined && this.needsReauthentication(checked);
    await this.assertOwnUpdateAcceptable(user, changes, !reauthenticating);
    // Without confirmation an anonymous user takes the address at once, as a sign-up would (GoTrue's
    // autoconfirm); a permanent user's change always confirms, and so does an anonymous one's otherwise.
    const takesAddressNow =
      user.isAnonymous && user.email === null && this.deps.settings.requireEmailConfirmation !== true;
    // The recipient's allowance (a 429) is counted before the code below is spent: a refused request keeps it.
    const mailedChange =
      changes.email !== undefined && !takesAddressNow
        ? await this.deps.emailFlows.admitEmailChange(user, changes.email)
        : null;
    // Last of the checks: it spends the mailed code, which a request refused otherwise keeps.
    const code =
      changes.password !== undefined ? await this.assertReauthenticated(checked, changes.nonce) : null;
    const write = () => this.writeOwnUpdate(client, checked, changes, takesAddressNow, mailedChange);
    if (code === null) return write();
    // Refused after the code was spent (the same password; a racing write took the data's room: 413;
    // a conflict), the code is kept, as one refused by a check is.
    return this.deps.emailFlows.spentOn(code, async () => {
      if (reauthenticating) await this.assertNotSamePassword(user, changes.password!);
      return write();
    });
  }

  /** updateOwnAccount's writes, once every check passed: the data, the address, then the password. */
  private async writeOwnUpdate(
    client: Client,
    checked: Pick<CheckResult, 'user' | 'session'>,
    changes: Parameters<OwnAccount['updateOwnAccount']>[2],
    takesAddressNow: boolean,
    mailedChange: string | null,
  ): Promise<User> {
    let user = checked.user;
    // The email change's PKCE flow, started by this request: its password change does not end it.
    let keptFlowId: string | null = null;
    // The caller's session licenses each write, judged again in it: a sign-out (a password change, a
    // ban) committed since the token was checked refuses it (session_not_found), as a change of the
    // password checks the kept session in its write (Store.changePassword).
    const sessionId = checked.session.id;
    if (changes.data !== undefined) {
      // A ban committed since the session was checked refuses the write (as the other conditional writes).
      // Before the address's change and its mail: a racing write can make this merge, done again, larger
      // than the bound (a 413) after the early check passed, and the mail had gone out for a refused
      // request. Merged again by a retry, the same data changes nothing more.
      const data = changes.data;
      user = await updateMerged(
        this.deps.store,
        user,
        (current) => ({
          profile: mergeMetadata(current.profile, data, this.deps.settings.maxUserDataBytes),
        }),
        { unlessBannedAt: this.now(), whileSessionLive: { sessionId, at: this.now() } },
      );
    }
    if (changes.email !== undefined && takesAddressNow) {
      user = await this.makePermanent(client, user, changes.email, sessionId);
    } else if (mailedChange !== null) {
      keptFlowId = await this.deps.emailFlows.startEmailChange(
        user,
        mailedChange,
        changes.redirectTo,
        changes.pkce ?? null,
        sessionId,
      );
    }
    if (changes.password !== undefined) {
      // The caller's session goes on (GoTrue's behaviour); every other session ends.
      user = await this.changePassword(client, {
        userId: user.id,
        newPassword: changes.password,
        keepSessionId: sessionId,
        keptFlowId,
      });
    }
    return user;
  }

  /** What updateOwnAccount would refuse, refused before it writes anything. */
  private async assertOwnUpdateAcceptable(
    user: User,
    changes: { data?: Record<string, unknown>; password?: string; email?: string },
    comparePassword: boolean,
  ): Promise<void> {
    if (changes.data !== undefined) {
      checkUserData(changes.data, 'User data');
      // Merged here too for its bound (a 413): refused after the email change's mails went out, or
      // the password changed, the update had half happened.
      mergeMetadata(user.profile, changes.data, this.deps.settings.maxUserDataBytes);
    }
    if (changes.password !== undefined) {
      // An anonymous user's password would sign in nobody: it has no address to sign in with yet.
      if (user.isAnonymous && user.email === null)
        throw new AuthError(
          'validation_failed',
          'Updating password of an anonymous user without an email or phone is not allowed',
          { status: 422 },
        );
      this.deps.hasher.assertAcceptable(changes.password);
      if (comparePassword) await this.assertNotSamePassword(user, changes.password);
    }
    if (changes.email !== undefined) {
      const email = checkEmail(changes.email);
      if (email !== user.email) await assertAddressFree(this.deps.store, email, user.id);
    }
  }

  /**
   * An anonymous user's address, taken without confirmation: the user is permanent from now on. Only
   * while `sessionId`, the caller's, is live (session_not_found otherwise, nothing written).
   */
  private async makePermanent(
    client: Client,
    user: User,
    newEmail: string,
    sessionId: string,
  ): Promise<User> {
    const email = checkEmail(newEmail);
    await assertAddressFree(this.deps.store, email, user.id);
    const now = this.now();
    // Its holder is its owner (nobody else proved the address): its client is the account's known one.
    // Not at the anonymous sign-up: an address another proves by mail (EmailFlows) is that one's account.
    const permanent = await this.guessesOf(client).opening(user.id, now, (knownClient) =>
      this.deps.store.updateUser(
        user.id,
        { email, emailConfirmedAt: now, isAnonymous: false },
        { unlessBannedAt: now, whileSessionLive: { sessionId, at: now }, knownClient },
      ),
    );
    await this.deps.audit?.record('email_changed', client, {
      userId: user.id,
      data: { from: null, to: email },
    });
    return permanent;
  }

  /**
   * With reauthentication required, a session older than a day proves its user again with a mailed
   * code before changing the password: a stolen refresh token alone cannot take the account over.
   */
  private async assertReauthenticated(
    checked: Pick<CheckResult, 'user' | 'session'>,
    nonce: string | undefined,
  ): Promise<OneTimeToken | null> {
    if (!this.needsReauthentication(checked)) return null;
    if (!nonce) throw new AuthError('reauthentication_needed');
    return this.deps.emailFlows.consumeReauthentication(checked.user, nonce);
  }

  /** Whether a password change in `checked`'s session needs the mailed code (GET /reauthenticate). */
  private needsReauthentication(checked: Pick<CheckResult, 'session'>): boolean {
    if (!this.deps.settings.passwordChangeRequiresReauthentication) return false;
    const now = this.now();
    const age = now.getTime() - checked.session.createdAt.getTime();
    // A session dated ahead of now was opened before the clock went back: it proves itself as an old one does.
    return datedAhead(checked.session.createdAt, now) || age >= REAUTHENTICATION_WINDOW_MS;
  }

  /**
   * GoTrue refuses a "change" to the password the account already has: an app's form would
   * otherwise report success for nothing and end every other session.
   */
  private async assertNotSamePassword(user: User, password: string): Promise<void> {
    const hash = await this.deps.store.getPasswordHash(user.id);
    if (hash !== null && (await this.deps.hasher.verify(password, hash)))
      throw new AuthError('same_password');
  }

  /**
   * A password change proven with the login and current password
   * (json-data-server's and postgrest-auth's): every session ends and a new
   * one is opened. Of racing changes proven with the same password one wins;
   * the others fail with invalid_credentials and open no session.
   */
  async changePasswordWithCurrent(
    client: Client,
    input: {
      login: string;
      currentPassword: string;
      newPassword: string;
      extraClaims?: ExtraClaims;
    },
  ): Promise<IssuedSession> {
    const { user, hash } = await this.credentials.proveCredentials(
      input.login,
      input.currentPassword,
      client,
    );
    // It answers a session, which a sign-in would refuse until the address is confirmed.
    if (this.mustConfirm(user)) throw new AuthError('email_not_confirmed');
    // Before the write: openSession's check came after the banned user's new password was stored.
    this.assertNotBanned(user, this.now());
    const { changed, now } = await this.storeNewPassword(client, user, input.newPassword, null, hash);
    return this.issuer.openSession(client, changed, now, input.extraClaims, 'password');
  }

  /**
   * Hashes and stores a new password, as a compare-and-set on `expectedHash` when given (see Store),
   * ending the account's PKCE flows but `keptFlowId` (replacePassword).
   */
  private async storeNewPassword(
    client: Client,
    user: User,
    newPassword: string,
    keepSessionId: string | null,
    expectedHash: string | undefined,
    keptFlowId: string | null = null,
  ): Promise<{ changed: User; now: Date }> {
    this.deps.hasher.assertAcceptable(newPassword);
    const passwordHash = await this.deps.hasher.hash(newPassword);
    const now = this.now();
    const change = (knownClient: KnownClientRecord | null) =>
      replacePassword(this.deps, {
        userId: user.id,
        passwordHash,
        keepSessionId,
        now,
        expectedHash,
        options: { knownClient },
        keptFlowId,
      });
    // The change ends every known client of the account (Store.changePassword) but, where the caller
    // keeps its session, the caller's own: it knows the new password, so an exemption from the guess
    // limit gives it nothing it lacks, and its owner goes on signing in from it during an attack. A
    // change that ends every session leaves the caller's client known only once a session opens for
    // it (changePasswordWithCurrent's does).
    const changed =
      keepSessionId === null
        ? await change(null)
        : await this.guessesOf(client).opening(user.id, now, change);
    await this.deps.audit?.record('password_changed', client, { userId: user.id });
    return { changed, now };
  }

  /**
   * Changes the address of an account whose login and password the caller proves here
   * (postgrest-auth's change_email). Where addresses must be confirmed (requireEmailConfirmation),
   * nothing changes yet: the email change's mails go out and following them sets it
   * (EmailFlows.requestEmailChange, as GoTrue's PUT /user): a password proves no mailbox, and an
   * address set at once was held, unconfirmed, by whoever typed it first, its recovery mails going
   * to its owner. Elsewhere (no confirmation to prove it with: postgrest-auth's own configs) it is
   * set at once, unconfirmed.
   *
   * The password licenses the change only while it is the account's: the address is written only
   * while the hash it was verified against is still stored, and a mailed change is bound to that
   * hash (its links die with it). A check alone left the milliseconds of the hash for the owner's
   * password change (or reset) to land first, and the change made with the old password went through.
   */
  async changeEmail(
    client: Client,
    input: { login: string; password: string; newEmail: string },
  ): Promise<'changed' | 'confirming'> {
    const { user: proven, hash } = await this.credentials.proveCredentials(
      input.login,
      input.password,
      client,
    );
    const email = checkEmail(input.newEmail);
    await assertAddressFree(this.deps.store, email, proven.id);
    const user = await this.deps.store.findUserById(proven.id);
    if (!user) throw new AuthError('invalid_credentials');
    // The password proves its holder, whom the ban refuses as it refuses their sign-in.
    this.assertNotBanned(user, this.now());
    // A second factor guards the account against a stolen password: GoTrue moves an MFA user's address
    // only for an aal2 session, which restauth never has, and changePassword refuses such a user too.
    // The password alone moved the address, and with it every mail (recovery included) to the thief.
    const factors = await this.deps.store.listMfaFactors(user.id);
    if (factors.some((factor) => factor.status === 'verified'))
      throw new AuthError('insufficient_aal', EMAIL_NEEDS_AAL2);
    if (this.deps.settings.requireEmailConfirmation === true) {
      await this.deps.emailFlows.requestEmailChange(user, email, null, null, null, passwordProofOf(hash));
      return 'confirming';
    }
    await this.deps.store.updateUser(
      user.id,
      { email, emailConfirmedAt: null },
      { unlessBannedAt: this.now(), whilePasswordHashIs: hash },
    );
    return 'changed';
  }
}
