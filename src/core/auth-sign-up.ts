import { randomUUID } from 'node:crypto';
import { type FormatPattern, compileFormatPattern } from '../lib/re2.js';
import { AuthUseCase } from './auth-use-case.js';
import type { SessionIssuer } from './auth-session-issuer.js';
import {
  authMethodOf,
  type AuthDeps,
  type IssuedSession,
  type ExtraClaims,
  type SignUpInput,
} from './auth-types.js';
import { assertAddressFree } from './address-owner.js';
import { AuthError, isAuthError } from './errors.js';
import { type Notifier, silentNotifier } from './notifier.js';
import { withProviders } from './identities.js';
import type { FirstSession, User } from './ports/store.js';
import { checkEmail, checkUsername, roleNameFor } from './identity.js';
import { checkUserData } from './validation.js';
import type { Client } from './audit.js';
import { DurationSampler } from './duration-sampler.js';

/**
 * Accounts made: the sign-ups of every dialect (with or without a session, anonymous, to confirm by
 * mail), the user-name format and the role a user's name gives, and the look-alike answer of a
 * taken address.
 */
export class AccountCreation extends AuthUseCase {
  private readonly usernamePattern: FormatPattern;
  private readonly notifier: Notifier;
  /** How long creating an account took lately: a taken address's sign-up waits as long (see assertAvailable). */
  private readonly accountWrite = new DurationSampler({ size: 64, initial: 10 });

  constructor(
    deps: AuthDeps,
    private readonly issuer: SessionIssuer,
  ) {
    super(deps);
    this.usernamePattern = compileFormatPattern(deps.settings.usernamePattern);
    this.notifier = deps.notifier ?? silentNotifier;
  }

  /**
   * Creates an account and opens its first session (the dialects without email
   * confirmation). The account, the session and the welcome mail are written in
   * one store transaction: a failure leaves nothing, and a retry is a new sign-up. An address that
   * must be confirmed first (restauth.json with mail) gets the account and its confirmation mail but
   * no session: `email_not_confirmed`, the answer its sign-in gets until the link is followed; so does
   * a taken address (registerToConfirm), whose account is left as it is.
   */
  async signUp(client: Client, input: SignUpInput, extraClaims?: ExtraClaims): Promise<IssuedSession> {
    const now = this.now();
    if (
      this.mustConfirm({ email: input.email ?? null, emailConfirmedAt: input.emailConfirmed ? now : null })
    ) {
      // No session before the address is proven, as a sign-in would refuse one: a session handed to
      // whoever first typed an address lived on in the account its owner later confirmed by mail.
      // As GoTrue's sign-up: a taken address answers as a new one, after the same work, so that
      // no dialect tells whether an address has an account; an unconfirmed one is contested and
      // its owner mailed again (EmailFlows.sendConfirmation, 'by another sign-up').
      await this.registerToConfirm(client, input);
      throw new AuthError('email_not_confirmed');
    }
    return this.createSignedUp(client, input, now, extraClaims, false);
  }

  /**
   * GoTrue's sign-up without confirmation (autoconfirm): signUp's account and first session, that
   * session also its first sign-in (last_sign_in_at, a sign_in event, a 'signup' sign-in counted).
   * All in signUp's one store transaction: a sign-in written after the account's commit, when it met
   * a fault, left an account whose 503 every retry then answered with user_already_exists.
   */
  async signUpConfirmed(
    client: Client,
    input: SignUpInput,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    return this.issuer.observed('signup', async () => {
      const now = this.now();
      const issued = await this.createSignedUp(
        client,
        { ...input, emailConfirmed: true },
        now,
        extraClaims,
        true,
      );
      await this.deps.audit?.record('sign_in', client, { userId: issued.user.id, data: { via: 'signup' } });
      return issued;
    });
  }

  /** An account and its first session, written together (`signsIn`: that session is a sign-in too). */
  private async createSignedUp(
    client: Client,
    input: SignUpInput,
    now: Date,
    extraClaims: ExtraClaims | undefined,
    signsIn: boolean,
  ): Promise<IssuedSession> {
    const first = this.deps.sessions.draft(now, authMethodOf(extraClaims, 'password'));
    const user = await this.createAccount(client, input, now, { session: first.session, signsIn });
    const session = this.deps.sessions.opened(first.session, user.id);
    return this.issuer.issue(user, session, first.refreshToken, now, extraClaims);
  }

  /**
   * An anonymous sign-in (GoTrue's signInAnonymously): a user with no address, password or
   * identity, marked anonymous, and its first session, written in one store transaction. The
   * user becomes permanent by confirming an address (updateOwnAccount, then EmailFlows).
   */
  async signUpAnonymously(
    client: Client,
    profile: Record<string, unknown>,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    checkUserData(profile, 'User data');
    const now = this.now();
    const first = this.deps.sessions.draft(now, authMethodOf(extraClaims, 'anonymous'));
    const user = await this.deps.store.createUser(
      {
        username: null,
        email: null,
        emailConfirmedAt: null,
        role: null,
        profile,
        appMetadata: {},
        isAnonymous: true,
      },
      null,
      { session: first.session },
    );
    await this.deps.audit?.record('sign_up', client, { userId: user.id, data: { anonymous: true } });
    const session = this.deps.sessions.opened(first.session, user.id);
    this.events.signIn('success', 'anonymous');
    return this.issuer.issue(user, session, first.refreshToken, now, extraClaims);
  }

  /**
   * Creates an account without a session. Its owner gets a welcome mail, or,
   * when the address must be confirmed first, the confirmation mail.
   */
  async register(client: Client, input: SignUpInput): Promise<User> {
    return this.createAccount(client, input, this.now(), undefined);
  }

  private async createAccount(
    client: Client,
    input: SignUpInput,
    now: Date,
    opens: { session: FirstSession; signsIn: boolean } | undefined,
  ): Promise<User> {
    const username = input.username == null ? null : checkUsername(input.username, this.usernamePattern);
    const email = input.email == null ? null : checkEmail(input.email);
    if (username === null && email === null) {
      throw new AuthError('validation_failed', 'A user name or an email address is required');
    }
    const profile = input.profile ?? {};
    checkUserData(profile, 'User data');
    this.deps.hasher.assertAcceptable(input.password);
    // Hashed before the availability check: a taken name or address costs the same hashing as a
    // free one, so the GoTrue sign-up's look-alike answer is not given away by its speed.
    const passwordHash = await this.deps.hasher.hash(input.password);
    await this.assertAvailable(username, email);
    const emailConfirmedAt = input.emailConfirmed ? now : null;
    const mailed = email !== null && input.sendMail !== false;
    const confirms = mailed && this.mustConfirm({ email, emailConfirmedAt });
    // Timed from here: rendering the welcome mail is part of the account's write.
    const writing = performance.now();
    // The welcome mail is rendered first: the store queues it with the account.
    const welcome = mailed && !confirms ? await this.notifier.welcomeMail({ username, email }) : [];
    // A sign-up's session makes its client a known one too (ClientGuesses.opening), in the same write.
    const create = (knownClient: { prefix: string; until: Date } | null): Promise<User> =>
      this.deps.store.createUser(
        {
          username,
          email,
          emailConfirmedAt,
          role: this.deps.settings.rolePerUser && username !== null ? this.ownRoleFor(username) : null,
          profile,
          // GoTrue's sign-up provider: the password's (a user name's too, the provider it signs in with).
          appMetadata: withProviders({}, ['email']),
          ...(opens?.signsIn ? { signedIn: true } : {}),
        },
        passwordHash,
        {
          ...(opens ? { session: opens.session, knownClient } : {}),
          ...(welcome.length > 0 ? { mails: welcome } : {}),
        },
      );
    const user = opens ? await this.guessesOf(client).openingNew(now, create) : await create(null);
    await this.deps.audit?.record('sign_up', client, { userId: user.id });
    this.accountWrite.record(performance.now() - writing);
    const flows = this.deps.emailFlows;
    if (confirms && user.email !== null) {
      // After the answer, as a taken address's resend is (see GoTrue's sign-up): mail work is no
      // part of either answer's time. A failure is reported; an unconfirmed owner who signs up
      // again gets this mail again, so a retry always works.
      this.background(() => flows.sendConfirmation(user, input.redirectTo ?? null, input.pkce ?? null));
    }
    return user;
  }

  /**
   * The database role a user of this name gets (roles.perUser). A name that is one of the configured
   * roles is refused: a user named `service_role` had tokens claiming the service role, which an
   * RLS policy or another service reading the JWT's role trusts (the file store has no pg_roles to
   * find it taken, nor has a database where that role was never created).
   */
  private ownRoleFor(username: string): string {
    const role = roleNameFor(username);
    if (this.issuer.isReservedRole(role)) {
      throw new AuthError('validation_failed', 'This user name cannot name a database role: it is reserved');
    }
    return role;
  }

  /**
   * The sign-up of an account that must confirm its address (GoTrue with confirmation on), whose
   * answer must not tell whether the address is taken: a taken address answers with a look-alike
   * of a new, unconfirmed account, and its owner, if still unconfirmed, gets the confirmation mail
   * again. Both the real and the look-alike answer come as fast: mail work happens after either.
   */
  async registerToConfirm(client: Client, input: SignUpInput): Promise<User> {
    // For every address alike, first: a new address's account may still fit in a journal's last
    // block of a full disk while the taken address's confirmation mail cannot be stored, and the
    // look-alike answer must fail exactly when the real one does.
    await this.deps.store.assertWritable();
    try {
      return await this.register(client, { ...input, emailConfirmed: false });
    } catch (error) {
      if (!isAuthError(error) || error.code !== 'email_exists' || input.email == null) throw error;
      const email = checkEmail(input.email);
      this.background(async () => {
        const existing = await this.deps.store.findUserByEmail(email);
        if (existing) {
          const { redirectTo = null, pkce = null } = input;
          await this.deps.emailFlows.sendConfirmation(existing, redirectTo, pkce, 'by another sign-up');
        }
      });
      return lookalikeAccount(email, input.profile ?? {}, this.now());
    }
  }

  /** Refuses a login that does not match the configured user-name format (json-data-server's userIdRE). */
  assertUsernameFormat(login: string): void {
    if (!this.usernamePattern.test(login))
      throw new AuthError('validation_failed', 'User name does not match the required format');
  }

  private async assertAvailable(username: string | null, email: string | null): Promise<void> {
    if (username !== null && (await this.deps.store.findUserByUsername(username))) {
      throw new AuthError('user_already_exists');
    }
    // GoTrue's sign-up with confirmation answers a taken address like a new one: its answer must
    // not come back sooner for skipping the account's write (see DurationSampler).
    if (email !== null)
      await assertAddressFree(this.deps.store, email, null, () => this.accountWrite.waitAsRecorded());
  }
}

/** A new, unconfirmed account of this address as a sign-up would create it, never stored (see registerToConfirm). */
function lookalikeAccount(email: string, profile: Record<string, unknown>, now: Date): User {
  return {
    id: randomUUID(),
    username: null,
    email,
    emailConfirmedAt: null,
    role: null,
    tokenVersion: 0,
    profile,
    // As GoTrue's sanitizeUser: the answer looks like a new account's.
    appMetadata: withProviders({}, ['email']),
    createdAt: now,
    updatedAt: now,
    lastSignInAt: null,
    bannedUntil: null,
    isAnonymous: false,
    aud: null,
    invitedAt: null,
  };
}
