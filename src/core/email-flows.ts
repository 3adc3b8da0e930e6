import { assertAddressFree } from './address-owner.js';
import type { AuditLog, Client } from './audit.js';
import type { BackgroundWork } from './background.js';
import { AuthError, isAuthError } from './errors.js';
import { assertNotBanned, isBanned } from './banned.js';
import { PKCE_TOKEN_PREFIX, type PkceFlows } from './flow-states.js';
import type { PkceChallenge } from './pkce.js';
import type { Notifier, OneTimeSecret, Recipient } from './notifier.js';
import type { IssuedOneTimeToken, OneTimeTokens } from './one-time-tokens.js';
import type { PasswordHasher } from './passwords.js';
import { hashSecret } from './secrets.js';
import type { OneTimeToken, SpendConditions, Store, User } from './ports/store.js';
import { checkEmail, loginKey } from './identity.js';
import { withProviders } from './identities.js';
import { endUnprovenHold } from './unvouched-eviction.js';
import { checkUserData } from './validation.js';
import { PASSWORD_PROOF, passwordProofOf } from './email-change-proof.js';
import { replacePassword } from './password-replacement.js';

/** What a mailed link or code verifies (GoTrue's `type`). */
export type VerifyType = 'signup' | 'invite' | 'magiclink' | 'recovery' | 'email_change' | 'email';

/** Builds the link a mail carries; null when no dialect serves links (then mails carry codes). */
export type LinkBuilder = (type: VerifyType, token: string, redirectTo: string | null) => string;

export type VerifyOutcome =
  /** `pkceFlowId`: the PKCE flow the spent mail was bound to (PkceFlows.issueCode), null for an implicit one. */
  | { status: 'verified'; type: VerifyType; user: User; pkceFlowId: string | null }
  /** The first of the two confirmations of an email change: nothing changed yet. */
  | { status: 'email_change_pending'; user: User };

/** Stored one-time token purposes, by the verification types that spend them. */
const PURPOSES: Record<VerifyType, readonly string[]> = {
  signup: ['confirmation'],
  invite: ['invite'],
  magiclink: ['magiclink'],
  email: ['confirmation', 'magiclink', 'invite'],
  recovery: ['recovery'],
  email_change: ['email_change_current', 'email_change_new'],
};
/**
 * The purposes whose token works only while its account holds the address it was mailed to (see
 * addressee): all but an email change's link to the new address, which the account takes by it.
 */
const ADDRESSED_PURPOSES = Object.values(PURPOSES)
  .flat()
  .filter((purpose) => purpose !== 'email_change_new');
const CHANGE_CONFIRMED = 'email_change_confirmed';
/**
 * Marks a mail into an unconfirmed account that its owner's sign-up did not ask for: a confirmation
 * mailed because another sign-up named the address, a magic link, an invitation. Whoever follows it
 * proves the mailbox, while the account's password and sessions came from someone who proved
 * nothing (the first to type the address, or one who set it where addresses are not confirmed), so
 * following it retires them.
 */
const RETIRES_CREDENTIALS = 'retiresCredentials';
/**
 * Marks such a mail into an account the very request that mailed it made (a magic link, an
 * administrator's link to a new address): the account's user_metadata is that request's own `data`,
 * kept when following the link retires what the account held. Elsewhere it goes with the password:
 * a squatter's sign-up `data` (a name, a picture's address, an app's flag) was what the owner found
 * in the account they had just proven, while their own sign-up's was never stored.
 */
const KEEPS_PROFILE = 'keepsProfile';
/**
 * Marks an unconfirmed account that a second sign-up named: whichever of its confirmations is
 * followed next retires its password and sessions, not only the one mailed for that sign-up. Within
 * the resend interval the second sign-up mails nothing (throttled), and the only mail in the owner's
 * inbox is the one the first sign-up asked for; a resend later mails one that says nothing either.
 * Kept until a confirmation spends it (CONTESTED_LIFETIME_MS bounds a never-confirmed account's).
 */
const CONTESTED_SIGN_UP = 'sign_up_contested';
const CONTESTED_LIFETIME_MS = 365 * 86_400_000;
/**
 * The token data of a mail asked with a PKCE challenge: the id of the flow started with it, the only
 * one its link issues a code to (see PkceFlows.issueCode).
 */
const PKCE_FLOW = 'pkceFlowId';
/** The purpose of a reauthentication code: never spent by /verify (not in PURPOSES). */
const REAUTHENTICATION = 'reauthentication';
/** What a resent email change may be refused with after the answer: nothing is mailed, as when throttled. */
const RESEND_REFUSALS: ReadonlySet<string> = new Set([
  'over_request_rate_limit',
  'email_exists',
  'user_banned',
  'user_not_found',
  'conflict',
]);
/** What the address's write of an email change answers when the proof of its request has gone since. */
const PROOF_GONE: ReadonlySet<string> = new Set(['invalid_credentials', 'session_not_found']);
/** A mailed code's form: a link token (43 characters of base64url) never has it. */
const CODE = /^\d{6}$/u;

export interface MagicLinkOptions {
  createUser: boolean;
  profile: Record<string, unknown>;
  redirectTo: string | null;
  /** The client's PKCE challenge: the link then ends a PKCE flow (see PkceFlows). */
  pkce?: PkceChallenge | null;
}

export interface EmailFlowDeps {
  store: Store;
  oneTimeTokens: OneTimeTokens;
  /** Starts the PKCE flow of a mail whose request carried a code_challenge. */
  pkce: PkceFlows;
  notifier: Notifier;
  hasher: PasswordHasher;
  audit: AuditLog;
  links: LinkBuilder | null;
  clock: () => Date;
  /** Runs the mail work of the request* flows after their answer. */
  background: BackgroundWork;
  /**
   * Counts a mail to an address no account of its requester holds (an email change's new address)
   * against that address's allowance; over it, 429 over_request_rate_limit. None: no limit.
   */
  limitRecipient?: (address: string) => Promise<void>;
  /**
   * Addresses are taken confirmed without a mail (no confirmation required): a confirmed account
   * proves nothing, not even a provider's unverified claim of its address (see recovery).
   */
  confirmsWithoutProof?: boolean;
}

/**
 * The flows that go through a mailbox: confirmation, recovery by link or
 * code, magic links, and the email change both addresses confirm. Each
 * answers the same whether or not the address has an account; sending is
 * throttled per recipient (see OneTimeTokens.issue).
 */
export class EmailFlows {
  constructor(private readonly deps: EmailFlowDeps) {}

  /**
   * With `pkce`, each of these mails' links ends the PKCE flow started with it, here, before the
   * mail is issued. A throttled request mails nothing, and its flow gets no code: the link mailed
   * earlier ends the flow of the request that mailed it (GoTrue picks the newest flow, which let
   * anyone asking for the address with a challenge of their own take the owner's code).
   */
  async sendConfirmation(
    user: User,
    redirectTo: string | null,
    pkce: PkceChallenge | null = null,
    asked: 'by its sign-up' | 'by another sign-up' = 'by its sign-up',
  ): Promise<void> {
    if (user.email === null || user.emailConfirmedAt !== null || this.unmailable(user)) return;
    const recipient = { ...user, email: user.email };
    const flow = await this.startFlow(user.id, 'signup', pkce);
    // Marked only while the account is as read: one banned, deleted or moved to another address since
    // is neither marked (its next confirmation would retire a password the sign-up never named) nor mailed.
    if (asked === 'by another sign-up' && !(await this.markContested(user.id, user.email))) return;
    await this.deps.oneTimeTokens.issue(
      user.id,
      user.email,
      'confirmation',
      this.deps.clock(),
      asked === 'by another sign-up' ? { ...flow, [RETIRES_CREDENTIALS]: true } : flow,
      (issued) =>
        this.deps.notifier.emailConfirmation(recipient, this.secret('signup', issued, redirectTo, pkce)),
      { whileAddressIs: user.email },
    );
  }

  /**
   * Mails a recovery link and code to the account with this address, if any. The address is
   * checked now; the lookup and the mail happen after the answer, which therefore is the same,
   * and as fast, whether or not the address has an account (so are requestMagicLink's and
   * requestResend's). See afterAnswer for a store that cannot write.
   */
  async requestRecovery(
    email: string,
    redirectTo: string | null,
    pkce: PkceChallenge | null = null,
  ): Promise<void> {
    const address = checkEmail(email);
    await this.afterAnswer(() => this.sendRecovery(address, redirectTo, pkce));
  }

  /**
   * Runs `work` after the answer, once the store says it can write now (Store.assertWritable): a
   * full disk or a database out of reach rejects here, before the answer, for every address alike.
   * The work itself fails unseen after an answer that said it would be done; asked first, the
   * answer is the 507 or 503 for all addresses instead of "sent" while nothing is stored or mailed.
   */
  private async afterAnswer(work: () => Promise<void>): Promise<void> {
    await this.deps.store.assertWritable();
    this.deps.background.run(work);
  }

  private async sendRecovery(
    email: string,
    redirectTo: string | null,
    pkce: PkceChallenge | null,
  ): Promise<void> {
    const user = await this.deps.store.findUserByEmail(email);
    if (!user || user.email === null || this.unmailable(user)) return;
    const recipient = { ...user, email: user.email };
    const flow = await this.startFlow(user.id, 'recovery', pkce);
    // An account moved to another address since its lookup: its former address is not mailed.
    await this.deps.oneTimeTokens.issue(
      user.id,
      user.email,
      'recovery',
      this.deps.clock(),
      flow,
      (issued) =>
        this.deps.notifier.passwordReset(recipient, this.secret('recovery', issued, redirectTo, pkce)),
      { whileAddressIs: user.email },
    );
  }

  /**
   * Mails a reset token to paste and its code (postgrest-auth's forgot_password): the recovery
   * token sendRecovery mails as a link, throttled alike; no link, as that dialect serves none.
   */
  async sendResetToken(user: Recipient): Promise<void> {
    if (this.unmailable(user)) return;
    await this.deps.oneTimeTokens.issue(
      user.id,
      user.email,
      'recovery',
      this.deps.clock(),
      {},
      (issued) =>
        this.deps.notifier.passwordReset(user, {
          token: issued.token,
          code: issued.code,
          expiresAt: issued.expiresAt,
        }),
      { whileAddressIs: user.email },
    );
  }

  /**
   * Mails the user name (postgrest-auth's forgot_username). The mail carries no secret, but it goes
   * out as the others do, with a token of its own, under the same conditions: an account banned,
   * deleted or moved to another address since its lookup is not mailed (its former address would
   * learn the name), and the reminder is throttled per account as every mail. Nothing spends that
   * token (no flow accepts its purpose): it is the send's condition and throttle, pruned when it expires.
   */
  async sendUsernameReminder(user: Recipient & { username: string }): Promise<void> {
    if (this.unmailable(user)) return;
    await this.deps.oneTimeTokens.issue(
      user.id,
      user.email,
      'username_reminder',
      this.deps.clock(),
      {},
      () => this.deps.notifier.usernameReminder(user),
      { whileAddressIs: user.email },
    );
  }

  /**
   * Spends a pasted recovery secret: the mailed token, or its 6-digit code together with the
   * address of the account the caller names (a code alone names no account). Null when neither
   * matches; a wrong code counts against the address (see OneTimeTokens.consumeCode).
   */
  async consumeResetSecret(secret: string, namedEmail: string | null): Promise<OneTimeToken | null> {
    const now = this.deps.clock();
    const conditions = this.spendConditions(now);
    const consumed =
      namedEmail !== null && CODE.test(secret)
        ? await this.deps.oneTimeTokens.consumeCode(namedEmail, secret, PURPOSES.recovery, now, conditions)
        : await this.deps.oneTimeTokens.consumeLink(secret, PURPOSES.recovery, now, conditions);
    if (consumed === null) return null;
    return (await this.spentOn(consumed, () => this.addressee(consumed))) !== null ? consumed : null;
  }

  /**
   * Mails a sign-in link and code, after the answer (see requestRecovery). An unknown address gets
   * an account first when `createUser` allows it; otherwise nothing is sent, and the answer is the same.
   */
  async requestMagicLink(email: string, options: MagicLinkOptions): Promise<void> {
    const address = checkEmail(email);
    await this.afterAnswer(() => this.sendMagicLink(address, options));
  }

  private async sendMagicLink(address: string, options: MagicLinkOptions): Promise<void> {
    let user = await this.deps.store.findUserByEmail(address);
    const made = user === null;
    if (!user) {
      if (!options.createUser) return;
      user = await this.createPasswordless(address, options.profile);
    } else if (this.unmailable(user)) return;
    // A link asked for an unconfirmed account this request did not make contests it, as a second
    // sign-up does: whichever of its links is followed next keeps none of its user_metadata. A
    // stranger's /otp {data} made the account; the owner's own /otp within the resend interval mails
    // nothing, and the stranger's link, the only one in the inbox, kept the stranger's profile.
    else if (user.emailConfirmedAt === null && !(await this.markContested(user.id, address))) return;
    const recipient = { ...user, email: address };
    const pkce = options.pkce ?? null;
    const flow = await this.startFlow(user.id, 'magiclink', pkce);
    const data = { ...flow, ...this.unaskedLinkData(user, made) };
    await this.deps.oneTimeTokens.issue(
      user.id,
      address,
      'magiclink',
      this.deps.clock(),
      data,
      (issued) =>
        this.deps.notifier.magicLink(recipient, this.secret('magiclink', issued, options.redirectTo, pkce)),
      { whileAddressIs: address },
    );
  }

  /**
   * An administrator's invitation (GoTrue's POST /invite): a passwordless account for a new
   * address, and a mail whose link (or code) confirms the address and signs in; the user then sets
   * a password. An address not yet confirmed is invited again; a confirmed one is taken.
   */
  async invite(
    client: Client,
    email: string,
    profile: Record<string, unknown>,
    redirectTo: string | null,
  ): Promise<User> {
    const address = checkEmail(email);
    const existing = await this.deps.store.findUserByEmail(address);
    if (existing && existing.emailConfirmedAt !== null) throw new AuthError('email_exists');
    // The administrator is told (no one else learns of the ban here): lift the ban, then invite.
    if (existing) assertNotBanned(existing, this.deps.clock());
    const created = existing ?? (await this.createPasswordless(address, profile));
    const recipient = { ...created, email: address };
    const now = this.deps.clock();
    const data = existing ? { [RETIRES_CREDENTIALS]: true } : {};
    // A ban committed since the lookup: refused in the token's write (user_banned), nothing mailed.
    await this.deps.oneTimeTokens.issueNow(
      created.id,
      address,
      'invite',
      now,
      data,
      (issued) => this.deps.notifier.invitation(recipient, this.secret('invite', issued, redirectTo)),
      { unlessBannedAt: now, whileAddressIs: address },
    );
    // GoTrue's invited_at: when the latest invitation went out (a second one moves it).
    const user = await this.markInvited(created, now);
    await this.deps.audit.record('user_invited', client, { userId: user.id, actorId: null });
    return user;
  }

  /**
   * Mails a signed-in user the code (GoTrue's nonce) that lets it change its password when
   * reauthentication is required. Only to a confirmed address: the code proves the mailbox.
   * Throttled like every mail of a kind (one a minute).
   */
  async sendReauthentication(client: Client, user: User): Promise<void> {
    if (user.email === null)
      throw new AuthError('validation_failed', 'Reauthentication requires the user to have an email');
    if (user.emailConfirmedAt === null)
      throw new AuthError('email_not_confirmed', 'Please verify your email first.');
    // A ban that came after the caller's token was checked: the code would only let it write.
    assertNotBanned(user, this.deps.clock());
    const recipient = { ...user, email: user.email };
    await this.deps.oneTimeTokens.issue(
      user.id,
      user.email,
      REAUTHENTICATION,
      this.deps.clock(),
      {},
      (issued) =>
        this.deps.notifier.reauthentication(recipient, { code: issued.code, expiresAt: issued.expiresAt }),
      { whileAddressIs: user.email },
    );
    await this.deps.audit.record('user_reauthenticate_requested', client, { userId: user.id });
  }

  /**
   * Spends a reauthentication code of this user, and returns it (see spentOn); wrong, used or expired:
   * reauthentication_not_valid.
   */
  async consumeReauthentication(user: User, nonce: string): Promise<OneTimeToken> {
    const now = this.deps.clock();
    const consumed =
      user.email === null
        ? null
        : await this.deps.oneTimeTokens.consumeCode(user.email, nonce, [REAUTHENTICATION], now, {
            unlessBannedAt: now,
          });
    if (!consumed || consumed.userId !== user.id) throw new AuthError('reauthentication_not_valid');
    return consumed;
  }

  /**
   * Starts an email change: the new address always confirms; the current one
   * too when there is one (secure change), so a stolen session cannot move
   * the account to an attacker's address alone. `sessionId` and `passwordProof`: what proved the
   * request, which the change must not outlive (see startEmailChange).
   */
  async requestEmailChange(
    user: User,
    newEmail: string,
    redirectTo: string | null,
    pkce: PkceChallenge | null = null,
    sessionId: string | null = null,
    passwordProof: string | null = null,
  ): Promise<void> {
    const email = await this.admitEmailChange(user, newEmail);
    if (email !== null) await this.startEmailChange(user, email, redirectTo, pkce, sessionId, passwordProof);
  }

  /**
   * requestEmailChange's refusals, the recipient's allowance counted, before anything is written:
   * a caller with other proofs to spend (a reauthentication code) spends them after a 429 here
   * could come. The address to give startEmailChange; null when it is the user's already.
   */
  async admitEmailChange(user: User, newEmail: string): Promise<string | null> {
    const email = checkEmail(newEmail);
    if (email === user.email) return null;
    // The account's own caller (a token, a password) is told: no one else learns of the ban here.
    assertNotBanned(user, this.deps.clock());
    await assertAddressFree(this.deps.store, email, user.id);
    // The resend throttle is per account: many accounts each mailed one address once a minute, so
    // anyone with a few accounts flooded a stranger's mailbox from the app's own domain.
    await this.deps.limitRecipient?.(email);
    return email;
  }

  /**
   * requestEmailChange's writes and mails, for an address admitEmailChange admitted. `sessionId`:
   * the session that asked (null: a password proved the request), whose end ends the change too;
   * `passwordProof`: the fingerprint of the hash a password that proved it was verified against
   * (passwordProofOf), whose replacement ends it likewise (see confirmEmailChange). Returns the id
   * of the PKCE flow it started (null: none), which a password changed in the same request keeps.
   */
  async startEmailChange(
    user: User,
    email: string,
    redirectTo: string | null,
    pkce: PkceChallenge | null,
    sessionId: string | null = null,
    passwordProof: string | null = null,
  ): Promise<string | null> {
    const now = this.deps.clock();
    const flow = await this.startFlow(user.id, 'email_change', pkce);
    const data = {
      newEmail: email,
      both: user.email !== null,
      ...(sessionId ? { sessionId } : {}),
      ...(passwordProof ? { [PASSWORD_PROOF]: passwordProof } : {}),
      ...flow,
    };
    const flowId = flow[PKCE_FLOW] ?? null;
    const toNew = await this.deps.oneTimeTokens.issue(
      user.id,
      email,
      'email_change_new',
      now,
      data,
      (issued) =>
        this.deps.notifier.emailChangeToNew(
          user,
          email,
          this.secret('email_change', issued, redirectTo, pkce),
        ),
      // The change is from the address read: an account moved since is not changed from another.
      user.email === null ? {} : { whileAddressIs: user.email },
    );
    // Throttled (or the account moved since it was read): neither address is mailed again yet.
    if (!toNew || user.email === null) return flowId;
    const current = { ...user, email: user.email };
    // A ban committed since the first mail's write: the current address is not mailed (user_banned).
    await this.deps.oneTimeTokens.issueNow(
      user.id,
      user.email,
      'email_change_current',
      now,
      data,
      (issued) =>
        this.deps.notifier.emailChangeToOld(
          current,
          email,
          this.secret('email_change', issued, redirectTo, pkce),
        ),
      { unlessBannedAt: now, whileAddressIs: user.email },
    );
    return flowId;
  }

  /**
   * Mails again what an address is waiting for: a sign-up's confirmation, or
   * an email change's confirmations (`email` is the account's current address).
   * Nothing for an unknown address or nothing pending; after the answer, which is the same (see requestRecovery).
   */
  async requestResend(
    email: string,
    type: 'signup' | 'email_change',
    redirectTo: string | null,
    pkce: PkceChallenge | null = null,
  ): Promise<void> {
    const address = checkEmail(email);
    await this.afterAnswer(() => this.resend(address, type, redirectTo, pkce));
  }

  private async resend(
    email: string,
    type: 'signup' | 'email_change',
    redirectTo: string | null,
    pkce: PkceChallenge | null,
  ): Promise<void> {
    const user = await this.deps.store.findUserByEmail(email);
    if (!user || this.unmailable(user)) return;
    if (type === 'signup') return this.sendConfirmation(user, redirectTo, pkce);
    const pending = await this.pendingChangeToken(user);
    const newEmail = pending?.data['newEmail'];
    if (pending === null || typeof newEmail !== 'string') return;
    // A change whose session ended is refused when followed: resent, its links only mailed both
    // addresses on behalf of whoever held that session (and spent the new address's allowance).
    if (!(await this.askingSessionLive(user, pending, this.deps.clock()))) return;
    // Likewise a change whose password was replaced since: the new one is all that proves the account.
    if ((await this.standingPasswordProof(user, pending)) === null) return;
    // The resent links belong to the session (or password) the change began with, as the first ones did.
    const sessionId = pending.data['sessionId'];
    const passwordProof = pending.data[PASSWORD_PROOF];
    try {
      await this.requestEmailChange(
        user,
        newEmail,
        redirectTo,
        pkce,
        typeof sessionId === 'string' ? sessionId : null,
        typeof passwordProof === 'string' ? passwordProof : null,
      );
    } catch (error) {
      // Answered already: a change refused now (over its new address's allowance, that address
      // confirmed by another account, the account banned or deleted since the lookup) mails nothing,
      // as when throttled, and is no fault of the server's to log (anyone can ask it at will).
      if (!isAuthError(error) || !RESEND_REFUSALS.has(error.code)) throw error;
    }
  }

  /** The address an email change waits to confirm, if any. */
  async pendingEmailChange(user: User): Promise<string | null> {
    const pending = await this.pendingChangeToken(user);
    return typeof pending?.data['newEmail'] === 'string' ? pending.data['newEmail'] : null;
  }

  private pendingChangeToken(user: User): Promise<OneTimeToken | null> {
    return this.deps.store.findOneTimeToken(user.id, 'email_change_new', this.deps.clock());
  }

  /**
   * Spends a link token or an address's code, does what its type means, then `next` with the outcome
   * (the route's session, or its PKCE code). The link token is the raw secret of the mail's link
   * (GoTrue's wire calls it `token_hash`); it is hashed only to be looked up.
   *
   * A ban (or an account moved from the address mailed) refuses in the spending write, spending
   * nothing (spendConditions). A refusal after the token is spent (4xx: `next` refusing a user with a
   * verified MFA factor, insufficient_aal, or a ban since) stores it again (unspend), as
   * changePasswordSpent does: the same link or code works once what refused it is fixed. Spent, a
   * recovery or sign-in link of an MFA user was dead after its refusal, even once the operator had
   * deleted the factor. An email change is restored only when refused before its address is written
   * (see verifyEmailChange).
   */
  async verify<T>(
    client: Client,
    type: VerifyType,
    secret: { linkToken: string } | { email: string; code: string },
    next: (outcome: VerifyOutcome) => Promise<T>,
  ): Promise<T> {
    const now = this.deps.clock();
    const consumed = await this.consume(type, secret, now);
    if (!consumed) throw new AuthError('otp_expired');
    if (type === 'email_change') return next(await this.verifyEmailChange(client, consumed, now));
    return this.spentOn(consumed, async () => next(await this.verifySpent(client, type, consumed, now)));
  }

  /** What a spent token of `type` does: confirms, retires an unproven password. */
  private async verifySpent(
    client: Client,
    type: Exclude<VerifyType, 'email_change'>,
    consumed: OneTimeToken,
    now: Date,
  ): Promise<VerifyOutcome> {
    const user = await this.addressee(consumed);
    if (!user) throw new AuthError('otp_expired');
    // An account that gave its address up (releaseUnproven) is not signed in by a mail to it.
    if (user.email === null) throw new AuthError('otp_expired');
    const pkceFlowId = flowOf(consumed);
    // A recovery, magic link or code into a confirmed account: confirmed without proof, what its holder
    // set up goes as the follower proves the mailbox (retireUnprovenClaims); else nothing changes.
    if (user.emailConfirmedAt !== null) {
      const proven = await this.retireUnprovenClaims(user, now, pkceFlowId);
      return { status: 'verified', type, user: proven, pkceFlowId };
    }
    // Both are asked: a contested mark is spent by the confirmation that finds it, flagged or not.
    const mark = await this.spendContestedMark(user, now);
    try {
      // A recovery link into an unconfirmed account confirms it (GoTrue's recoverVerify): its follower
      // proves the mailbox, whoever set the password did not, so that goes as with a magic link.
      const retires = type === 'recovery' || consumed.data[RETIRES_CREDENTIALS] === true || mark !== null;
      const keepsProfile = consumed.data[KEEPS_PROFILE] === true && mark === null;
      const holder = retires ? await this.retireCredentials(user, now, keepsProfile, pkceFlowId) : user;
      return { status: 'verified', type, user: await this.confirmEmail(client, holder, now), pkceFlowId };
    } catch (error) {
      // Refused before the account was confirmed (a ban since: the password's write refuses it), the
      // link is stored again (spentOn) and so is the mark: spent for good, the same link followed
      // once the ban was lifted confirmed the account with the squatter's password in it.
      if (mark !== null && isRefusal(error)) await this.unspend(mark, this.deps.clock(), null);
      throw error;
    }
  }

  /**
   * The hosted recovery page: checks the new password first (a refused
   * password must not spend the link), then spends the token and changes
   * the password, ending every session.
   */
  async recoverWithPassword(client: Client, linkToken: string, password: string): Promise<User> {
    this.deps.hasher.assertAcceptable(password);
    const now = this.deps.clock();
    const consumed = await this.deps.oneTimeTokens.consumeLink(
      linkToken,
      PURPOSES.recovery,
      now,
      this.spendConditions(now),
    );
    if (!consumed || !(await this.spentOn(consumed, () => this.addressee(consumed))))
      throw new AuthError('otp_expired');
    const user = await this.changePasswordSpent(client, consumed, password, now);
    await this.deps.audit.record('password_recovered', client, { userId: user.id, data: { via: 'link' } });
    return user;
  }

  /**
   * What a sign-in link into `user` that its sign-up did not ask for keeps (a magic link; an invitation
   * or magic link an administrator generated): into an account nobody has confirmed yet, its follower
   * proves more than that account's password did, so following it retires the password and sessions
   * (RETIRES_CREDENTIALS), whoever had the link made. `made`: the request asking for the link made
   * the account, whose user_metadata is then its own (KEEPS_PROFILE).
   */
  unaskedLinkData(user: Pick<User, 'emailConfirmedAt'>, made = false): Record<string, unknown> {
    if (user.emailConfirmedAt !== null) return {};
    return made ? { [RETIRES_CREDENTIALS]: true, [KEEPS_PROFILE]: true } : { [RETIRES_CREDENTIALS]: true };
  }

  /**
   * The password change a recovery token just spent pays for. Refused by the write (a verified MFA
   * factor: insufficient_aal), the token is stored again: the form comes back, or postgrest-auth's
   * change_password answers, and the same link or code must work once what refused it is fixed.
   * Spent, it sent the person back to ask for another mail (after the factor's deletion, say).
   * `check`: the caller's own refusals on what it read after the spend (a ban), judged likewise.
   *
   * The token proved the mailbox: an unconfirmed account is confirmed, as verify's recovery confirms
   * it (GoTrue's recoverVerify), and what its holder set up before the proof goes (its provider
   * identities and user_metadata: retireUnprovenSetUp; the change ended its sessions). Left
   * unconfirmed, a squatter's provider identity outlived a reset through postgrest-auth, and once the
   * owner confirmed the address (to sign in at all), the squatter's provider signed into their account.
   */
  async changePasswordSpent(
    client: Client,
    token: OneTimeToken,
    password: string,
    now: Date,
    check: () => void = () => {},
  ): Promise<User> {
    const user = await this.spentOn(token, async () => {
      check();
      // Hashed after the spend (a wrong link costs no hash), inside it: a full hashing pool's 503
      // keeps the link, as a refused write does.
      const passwordHash = await this.deps.hasher.hash(password);
      return replacePassword(this.deps, { userId: token.userId, passwordHash, keepSessionId: null, now });
    });
    // Every dialect's recovery by a mailed token (the hosted form, postgrest-auth's reset) ends here.
    // Its new password, unconditional, ended the sessions and flows of its moment in its write.
    if (user.emailConfirmedAt !== null) return this.retireUnprovenClaims(user, now, null, 'replaced');
    return this.confirmEmail(client, await this.retireUnprovenSetUp(user, false), now);
  }

  /**
   * Runs `work`, which the spent `token` pays for. Refused by it (4xx, or over_capacity: isRefusal),
   * the token is stored again (unspend): the link or code works once what refused it is fixed, as
   * when a check before the spend refuses. A refusal that says the token is dead (otp_expired) leaves
   * it spent. Every one-time secret spent before a step that can still refuse goes through here
   * (verify, the recovery writes, a reauthentication code).
   */
  async spentOn<T>(token: OneTimeToken, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isRefusal(error)) await this.unspend(token, this.deps.clock());
      throw error;
    }
  }

  /**
   * Stores again a token spent by a request then refused, unless another of its purpose was issued
   * since it was (the newer stands), or the account was moved since. A ban is no condition: a ban
   * committed after the spend refused what it paid for, which the spend before the ban would not
   * have got back either way (its spend is refused, unspent, while the ban lasts: spendConditions).
   * Asked in the write (unlessIssuedAfter): looked up first, a mail issued between the
   * look and the write was replaced by the older token, its link dead. Dated now, as the store's
   * condition reads a token dated after the one it writes as one a clock set back made; it keeps its
   * expiry, so it lives no longer than mailed. `heldAddress`: the address the account must still
   * hold, by default the one the token was mailed to (an email change's link to its new address: the
   * account's address when it was spent); none for a token stored without one.
   */
  private async unspend(
    token: OneTimeToken,
    now: Date,
    heldAddress: string | null | undefined = token.recipient,
  ): Promise<void> {
    await this.deps.store.createOneTimeToken({ ...token, createdAt: now }, [], {
      unlessIssuedAfter: token.createdAt,
      ...(heldAddress ? { whileAddressIs: heldAddress } : {}),
    });
  }

  /** Records that the user was invited at `now` (GoTrue's invited_at, set by /invite and generate_link's invite). */
  markInvited(user: User, now: Date): Promise<User> {
    return this.deps.store.updateUser(user.id, { invitedAt: now });
  }

  /** An account without a password (magic-link sign-up, invite): it signs in by mail until it sets one. */
  async createPasswordless(email: string, profile: Record<string, unknown>): Promise<User> {
    checkUserData(profile, 'User data');
    return this.deps.store.createUser(
      {
        username: null,
        email,
        emailConfirmedAt: null,
        role: null,
        profile,
        appMetadata: withProviders({}, ['email']),
      },
      null,
    );
  }

  /**
   * Whether this account gets no mail: a banned one's would be refused when followed (addressee),
   * and mailing it anyway made the request routes a channel to harass its owner and spent its
   * address's allowance. Asked after the answer (or where the answer is the same for every
   * address), so the answer does not tell a ban from an account or from no account.
   */
  private unmailable(user: Pick<User, 'bannedUntil'>): boolean {
    return isBanned(user, this.deps.clock());
  }

  /** Starts the PKCE flow of a mail asked with a challenge: the data its token keeps (PKCE_FLOW). */
  private async startFlow(
    userId: string,
    type: VerifyType,
    pkce: PkceChallenge | null,
  ): Promise<Record<string, string>> {
    return pkce ? { [PKCE_FLOW]: await this.deps.pkce.start(userId, type, pkce) } : {};
  }

  /** The mail's secret: the link (when links are served; GoTrue's `pkce_` mark on a PKCE flow's) and the code. */
  secret(
    type: VerifyType,
    issued: IssuedOneTimeToken,
    redirectTo: string | null,
    pkce: PkceChallenge | null = null,
  ): OneTimeSecret {
    const token = pkce ? `${PKCE_TOKEN_PREFIX}${issued.token}` : issued.token;
    const link = this.deps.links?.(type, token, redirectTo);
    return { ...(link ? { link } : {}), code: issued.code, expiresAt: issued.expiresAt };
  }

  /**
   * The account of a spent token while it still has the address the token was mailed to, else null.
   * A mail's secret proves only that mailbox: a recovery or magic link mailed to an address the
   * account has since left signed into it, now under its new address, for whoever kept the old
   * mailbox. An email change's link to the new address is the exception (the account takes that
   * address when it is followed); a token stored without its recipient (before they were kept) passes.
   * A banned account's: user_banned.
   */
  private async addressee(consumed: OneTimeToken): Promise<User | null> {
    return this.addresseeOf(await this.deps.store.findUserById(consumed.userId), consumed);
  }

  /** addressee, on the account as `user` read it. */
  private addresseeOf(user: User | null, consumed: OneTimeToken): User | null {
    // Every spent secret comes here before it acts (confirms, changes the address or password).
    if (user !== null) assertNotBanned(user, this.deps.clock());
    if (user === null || consumed.purpose === 'email_change_new' || consumed.recipient == null) return user;
    return user.email !== null && loginKey(user.email) === consumed.recipient ? user : null;
  }

  /**
   * What a mailed secret is spent only under, in the spending write: its account not banned (else
   * user_banned) and, but for an email change's new side, still at the address it was mailed to (else
   * otp_expired). Either refusal leaves it unspent, as GoTrue's /verify rolls back: the same link or
   * code works once the ban is lifted (or the account is back at the address). The account read after
   * the spend (addressee) asks the same again, for what changed in between.
   */
  private spendConditions(now: Date): SpendConditions {
    return { unlessBannedAt: now, whileAddressedFor: ADDRESSED_PURPOSES };
  }

  private consume(
    type: VerifyType,
    secret: { linkToken: string } | { email: string; code: string },
    now: Date,
  ): Promise<OneTimeToken | null> {
    const conditions = this.spendConditions(now);
    if ('linkToken' in secret)
      return this.deps.oneTimeTokens.consumeLink(secret.linkToken, PURPOSES[type], now, conditions);
    // Codes are bound to the address they were mailed to: an email change's code to the new
    // address is typed with that address, which no account has yet.
    const address = checkEmail(secret.email);
    return this.deps.oneTimeTokens.consumeCode(address, secret.code, PURPOSES[type], now, conditions);
  }

  /**
   * Marks an unconfirmed account that a sign-up or a magic link's request named again (see
   * CONTESTED_SIGN_UP); a later mark replaces the earlier. Every dialect's sign-up of a taken address
   * comes here (sendConfirmation), and so does a magic link for an account it did not make.
   * False, nothing marked, for an account banned, deleted or moved from `address` since it was read.
   */
  private async markContested(userId: string, address: string): Promise<boolean> {
    const now = this.deps.clock();
    const written = await this.deps.store.createOneTimeToken(
      {
        hash: contestedMark(userId),
        codeHash: null,
        userId,
        purpose: CONTESTED_SIGN_UP,
        createdAt: now,
        expiresAt: new Date(now.getTime() + CONTESTED_LIFETIME_MS),
        data: {},
      },
      [],
      { unlessBannedAt: now, whileAddressIs: address },
    );
    return written.stored;
  }

  /** The mark a second sign-up left on this unconfirmed account, if any; spent by asking. */
  private async spendContestedMark(user: User, now: Date): Promise<OneTimeToken | null> {
    if (user.emailConfirmedAt !== null) return null;
    return this.deps.store.consumeOneTimeToken(contestedMark(user.id), CONTESTED_SIGN_UP, now);
  }

  /**
   * Ends what an unconfirmed account held before its address was proven: its password (replaced by
   * one nobody knows), every session and PKCE flow but `keptFlowId` (the link's own) and, unless
   * `keepProfile` (KEEPS_PROFILE), its user_metadata. The follower of a confirmation another sign-up
   * asked for is the mailbox's owner, not necessarily whoever set that password and that data (see
   * RETIRES_CREDENTIALS); a code its holder had been issued exchanged for a session after the proof.
   */
  private async retireCredentials(
    user: User,
    now: Date,
    keepProfile: boolean,
    keptFlowId: string | null,
  ): Promise<User> {
    if (user.emailConfirmedAt !== null || user.email === null) return user;
    const holder = await this.retireUnprovenSetUp(user, keepProfile);
    // Its identities went above, with its metadata (retireUnprovenSetUp): the rest by the one rule.
    await endUnprovenHold(this.deps, user.id, user.email, now, {
      keptFlowId,
      password: 'retire',
      identities: 'kept',
      addressIdentityFirst: false,
    });
    return (await this.deps.store.findUserById(user.id)) ?? holder;
  }

  /**
   * What an unconfirmed account's holder set up besides its password and sessions: its provider
   * identities and, unless `keepProfile`, its user_metadata (see KEEPS_PROFILE). The user, as now.
   */
  private async retireUnprovenSetUp(user: User, keepProfile: boolean): Promise<User> {
    await this.retireProviderIdentities(user);
    if (keepProfile || Object.keys(user.profile).length === 0) return user;
    return this.deps.store.updateUser(user.id, { profile: {} });
  }

  /**
   * The provider identities of an unconfirmed account: none of those providers verified its address
   * (a verified one confirms the account: see ExternalSignIn), so whoever signed in with one proved
   * no more than a squatter's password did, and would still sign in to the account once its
   * mailbox's owner confirmed it. They go; the address's own `email` identity stays, and an account
   * a provider made, which has none, gets it: the address is now how it signs in. Their profile
   * goes with them: the user_metadata those sign-ins merged (name, picture, the provider's `sub`)
   * is the claimant's, which apps would show as the owner's (GoTrue's RemoveUnconfirmedIdentities
   * replaces it too).
   */
  private async retireProviderIdentities(user: User): Promise<void> {
    const { store } = this.deps;
    const identities = await store.listIdentities(user.id);
    if (identities.every((identity) => identity.provider === 'email')) return;
    const addressIdentity = identities.find((identity) => identity.provider === 'email');
    await store.keepOnlyIdentity(user.id, addressIdentity?.id ?? null);
    await store.updateUser(user.id, {
      profile: {},
      ...(addressIdentity === undefined && user.email !== null ? { email: user.email } : {}),
    });
  }

  /**
   * A recovery, a magic link or a code into a confirmed account, where addresses are confirmed
   * without proof: whoever held the account before may have typed the address first (an anonymous
   * user's PUT /user, a sign-up, a provider that claimed it unverified) and set up ways in (a
   * password, sessions, PKCE flows, their own provider linked); nothing since proved them its owner.
   * The mailbox's owner, following the mail, is: everything the holder set up goes by the one rule
   * (endUnprovenHold), the proof's own PKCE flow (`keptFlowId`) kept, its session opened after.
   * restauth keeps no record of when an address was first proven, so an owner's own magic link ends
   * their other sessions and password too (they sign in again, set a password again). Elsewhere a
   * confirmed account's address was proven, and it is left as it is. `password`: `replaced` when
   * the recovery's own new password already replaced it. The account as it is after.
   */
  private async retireUnprovenClaims(
    user: User,
    now: Date,
    keptFlowId: string | null,
    password: 'retire' | 'replaced' = 'retire',
  ): Promise<User> {
    if (!this.deps.confirmsWithoutProof || user.email === null) return user;
    await endUnprovenHold(this.deps, user.id, user.email, now, {
      keptFlowId,
      password,
      identities: 'unvouched',
      addressIdentityFirst: true,
    });
    // Its providers (app_metadata) follow the identities that went.
    return (await this.deps.store.findUserById(user.id)) ?? user;
  }

  /**
   * An account's first address (an anonymous account's, or a permanent one's that had none: a
   * provider that gave none), proven by following the mail. Whoever held the account asked for that
   * address (PUT /user, or linking a provider that gave it unverified), but only the mailbox's owner
   * followed the link, which alone proves it (there is no current address to confirm the change):
   * were the asker a stranger, the owner would now use (set a password on, fill with data) an
   * account the stranger could still get into. So every way in its holder set up before the proof
   * goes by the one rule (endUnprovenHold), and only the follower of the mail holds it:
   *
   * - its sessions (access and refresh tokens);
   * - every provider identity that does not vouch for the address: an anonymous account has none of
   *   its own (an anonymous sign-up makes none), and a permanent one without an address got in with
   *   a provider that gave none, so each was linked or signed in with by its holder, and one that
   *   gave no address, or another one, signed its holder in as well as one that claimed this address
   *   unverified. Its `email` identity, the proven address's, stays;
   * - a password, if it has one (PUT /user refuses one while anonymous, since there is no address
   *   to sign in with; an administrator may have set one, for the holder): replaced by one nobody knows;
   * - its PKCE flows, but `keptFlowId` (this link's own, whose code the follower gets): a code an
   *   OAuth sign-in issued the holder before the proof still exchanged for a session after it.
   *
   * A change the holder asked to another address was asked in a session that ends here, and dies
   * with it (askingSessionLive). The follower gets a fresh session from the link, so an honest user
   * on the same device goes on signed in (on another one, it signs in again), and one who had linked
   * their own provider links it again. Its user_metadata stays: it is what an honest anonymous user
   * kept there, the point of converting the account. GoTrue keeps all of it (its emailChangeVerify
   * only makes the user permanent). Before, only an anonymous account's holder was ended: a provider
   * account with no address asked for a victim's, and kept its sessions and its provider sign-in in
   * the account the victim then used.
   */
  private async endFirstAddressHolder(
    userId: string,
    email: string,
    keptFlowId: string | null,
    now: Date,
  ): Promise<void> {
    await endUnprovenHold(this.deps, userId, email, now, {
      keptFlowId,
      password: 'retire',
      identities: 'unvouched',
      addressIdentityFirst: true,
    });
  }

  private async confirmEmail(client: Client, user: User, now: Date): Promise<User> {
    if (user.email === null || user.emailConfirmedAt !== null) return user;
    const confirmed = await this.deps.store.updateUser(user.id, { emailConfirmedAt: now });
    await this.deps.audit.record('email_confirmed', client, { userId: user.id });
    return confirmed;
  }

  /**
   * An email change's spent token: confirms its side and, with the other side confirmed (or no other
   * side), moves the account. Refused before the address is written (a ban committed since the spend,
   * the address confirmed by another account), the token and the other side's mark it spent are stored
   * again, as spentOn stores a token: the same links move the account once what refused them is over
   * (GoTrue's /verify rolls it all back). Spent for good, the mark left the change dead: each side's
   * link answered otp_expired once the ban was lifted. Refused after the write (the session), nothing
   * is restored: the address moved, and following the links again would change nothing.
   */
  private async verifyEmailChange(client: Client, consumed: OneTimeToken, now: Date): Promise<VerifyOutcome> {
    // The account's address as it was before: a restored link to the new address still works only
    // while the account is where its change started (unspend's condition).
    const read = await this.deps.store.findUserById(consumed.userId);
    const spent: { token: OneTimeToken; address: string | null | undefined }[] = [
      {
        token: consumed,
        address: consumed.purpose === 'email_change_new' ? (read?.email ?? null) : consumed.recipient,
      },
    ];
    let change: EmailChange | null;
    try {
      const user = this.addresseeOf(read, consumed);
      if (!user) throw new AuthError('otp_expired');
      change = await this.confirmEmailChange(client, user, consumed, now, (mark) =>
        spent.push({ token: mark, address: null }),
      );
      if (change === null) return { status: 'email_change_pending', user };
    } catch (error) {
      if (isRefusal(error)) {
        for (const { token, address } of spent) await this.unspend(token, this.deps.clock(), address);
      }
      throw error;
    }
    const { user, newEmail } = change;
    let changed = change.changed;
    // The account's first address (none when its change was asked: no current side confirmed it, or
    // none when it is followed), proven by the new side alone: not necessarily by whoever asked.
    if (user.email === null || consumed.data['both'] !== true) {
      await this.endFirstAddressHolder(user.id, newEmail, flowOf(consumed), now);
      // Its providers (app_metadata) follow the identities that went.
      changed = (await this.deps.store.findUserById(user.id)) ?? changed;
    }
    await this.deps.audit.record('email_changed', client, {
      userId: user.id,
      data: { from: user.email, to: newEmail },
    });
    return { status: 'verified', type: 'email_change', user: changed, pkceFlowId: flowOf(consumed) };
  }

  /**
   * The confirmation of one side of an email change, up to the address's write: null when the other
   * side is still to confirm (this side's mark left), else the change written. `spentMark`: the other
   * side's mark, once this call has spent it (the caller stores it again on a refusal).
   */
  private async confirmEmailChange(
    client: Client,
    user: User,
    consumed: OneTimeToken,
    now: Date,
    spentMark: (mark: OneTimeToken) => void,
  ): Promise<EmailChange | null> {
    const newEmail = consumed.data['newEmail'];
    if (typeof newEmail !== 'string') throw new AuthError('otp_expired');
    if (!(await this.askingSessionLive(user, consumed, now))) throw new AuthError('otp_expired');
    const provenHash = await this.standingPasswordProof(user, consumed);
    if (provenHash === null) throw new AuthError('otp_expired');
    if (consumed.data['both'] === true) {
      // The first confirmation leaves a marker of its side; the other side's finds and spends it, then
      // applies the change. A marker any second confirmation spent let the new address confirm twice
      // (asked again after the resend interval): a stolen session moved the account to its thief's
      // mailbox without the owner's.
      const side = consumed.purpose;
      const otherSide = side === 'email_change_new' ? 'email_change_current' : 'email_change_new';
      const marker = (of: string) => changeConfirmedMark(user, newEmail, of);
      const other = await this.deps.store.consumeOneTimeToken(marker(otherSide), CHANGE_CONFIRMED, now);
      if (!other) {
        await this.deps.store.createOneTimeToken({
          hash: marker(side),
          codeHash: null,
          userId: user.id,
          purpose: CHANGE_CONFIRMED,
          createdAt: now,
          expiresAt: consumed.expiresAt,
          data: { newEmail },
        });
        return null;
      }
      spentMark(other);
    }
    await this.releaseUnproven(client, newEmail, user.id);
    // A confirmed address makes an anonymous user permanent (GoTrue's emailChangeVerify).
    // A change a password or a session proved is written only while that proof stands, judged in the
    // write: a password replaced or the session signed out since the looks above ends the change (a
    // dead link), never lets it land.
    const sessionId = consumed.data['sessionId'];
    const changed = await this.deps.store
      .updateUser(
        user.id,
        { email: newEmail, emailConfirmedAt: now, ...(user.isAnonymous ? { isAnonymous: false } : {}) },
        {
          unlessBannedAt: now,
          ...(provenHash ? { whilePasswordHashIs: provenHash } : {}),
          ...(typeof sessionId === 'string' ? { whileSessionLive: { sessionId, at: now } } : {}),
        },
      )
      .catch((error: unknown) => {
        if (isAuthError(error) && PROOF_GONE.has(error.code)) throw new AuthError('otp_expired');
        throw error;
      });
    return { user, newEmail, changed };
  }

  /**
   * A change asked in a session ends with it: signing out everywhere (or the session's expiry) is the
   * owner's answer to a stolen session, and a change the thief asked must not outlive it: followed,
   * it is refused as an expired link is; resent, nothing is mailed. A change without a session (a
   * password proved it, an administrator's link) has no such bound.
   */
  private async askingSessionLive(user: User, token: OneTimeToken, now: Date): Promise<boolean> {
    const sessionId = token.data['sessionId'];
    if (typeof sessionId !== 'string') return true;
    const session = await this.deps.store.findSession(sessionId);
    return (
      session !== null &&
      session.userId === user.id &&
      session.revokedAt === null &&
      session.notAfter.getTime() > now.getTime()
    );
  }

  /**
   * A change a password proved (postgrest-auth's change_email) ends when that password is replaced
   * (changed, reset, set by an administrator): the owner's answer to a stolen password, which a
   * change its thief asked must not outlive. The stored hash while it is the one the change was
   * proven with (for the write's condition), null when it is another or none; undefined for a change
   * no password proved.
   */
  private async standingPasswordProof(user: User, token: OneTimeToken): Promise<string | null | undefined> {
    const proof = token.data[PASSWORD_PROOF];
    if (typeof proof !== 'string') return undefined;
    const hash = await this.deps.store.getPasswordHash(user.id);
    return hash !== null && passwordProofOf(hash) === proof ? hash : null;
  }

  /**
   * Following an email change's mail proves the mailbox, and a proof beats a claim: another
   * account holding the address unconfirmed (postgrest-auth's change_email where nothing is
   * confirmed, a sign-up not yet confirmed) gives it up, where the owner's confirmation answered
   * email_exists and the address stayed with whoever typed it first. An account that confirmed
   * the address keeps it (email_exists): the first proof wins, as GoTrue's.
   */
  private async releaseUnproven(client: Client, email: string, userId: string): Promise<void> {
    const holder = await this.deps.store.findUserByEmail(email);
    if (holder === null || holder.id === userId) return;
    if (holder.emailConfirmedAt !== null) throw new AuthError('email_exists');
    await this.deps.store.updateUser(holder.id, { email: null });
    await this.deps.audit.record('email_changed', client, {
      userId: holder.id,
      actorId: userId,
      data: { from: email, to: null, reason: 'confirmed by another account' },
    });
  }
}

/**
 * The stored key of the mark one side of an email change leaves (`side`: the purpose of the token it
 * followed), for this change of this account's current address; one per account (the store keeps one
 * token of a purpose per user), found without a secret.
 */
function changeConfirmedMark(user: User, newEmail: string, side: string): string {
  return hashSecret(`${user.id}\n${CHANGE_CONFIRMED}\n${user.email ?? ''}\n${newEmail}\n${side}`);
}

/** An email change written: the account as read before, its new address, and the account after. */
interface EmailChange {
  user: User;
  newEmail: string;
  changed: User;
}

/**
 * A refusal of what a spent secret paid for that leaves the secret good: a 4xx, or the hashing pool
 * shedding load (over_capacity: retry shortly, the store is fine). It is stored again. otp_expired
 * says the secret itself is dead (its account moved, its change's session ended). Another 5xx (the
 * store out of reach) would fail the restore too.
 */
function isRefusal(error: unknown): boolean {
  if (!isAuthError(error) || error.code === 'otp_expired') return false;
  return error.status < 500 || error.code === 'over_capacity';
}

/** The PKCE flow a spent token's mail was bound to; null for a mail asked without a challenge. */
function flowOf(token: OneTimeToken): string | null {
  const flowId = token.data[PKCE_FLOW];
  return typeof flowId === 'string' ? flowId : null;
}

/** The stored key of an account's contested mark: one per account, found without a secret. */
function contestedMark(userId: string): string {
  return hashSecret(`${userId}\n${CONTESTED_SIGN_UP}`);
}
