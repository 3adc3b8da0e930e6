import { randomUUID } from 'node:crypto';
import { compileFormatPattern, type FormatPattern } from '../lib/re2.js';
import { assertAddressFree } from './address-owner.js';
import { AuthError, isAuthError, TOKEN_USER_NOT_FOUND } from './errors.js';
import { assertNotBanned } from './banned.js';
import { datedAhead } from './clock-skew.js';
import { silentNotifier, type Notifier } from './notifier.js';
import type { PasswordHasher } from './passwords.js';
import type { PkceChallenge } from './pkce.js';
import { hashSecret } from './secrets.js';
import { withProviders } from './identities.js';
import { mergeMetadata } from './metadata.js';
import { updateMerged } from './merged-update.js';
import type { SessionManager } from './sessions.js';
import type {
  FirstSession,
  Identity,
  MfaFactor,
  OneTimeToken,
  Session,
  Store,
  TokenStanding,
  User,
} from './ports/store.js';
import { TokenError, type AccessClaims, type TokenService } from './tokens.js';
import {
  checkEmail,
  checkUsername,
  isEmailLogin,
  loginKey,
  MAX_LOGIN_LENGTH,
  namesUser,
  roleNameFor,
} from './identity.js';
import { checkUserData } from './validation.js';
import { unknownAccount, type AccountGuessLimit, type ClientGuesses } from './account-guess-limit.js';
import type { AuditLog, Client } from './audit.js';
import type { BackgroundWork } from './background.js';
import { DurationSampler } from './duration-sampler.js';
import type { EmailFlows } from './email-flows.js';
import { unobserved, type AuthEvents, type SignInMethod } from './ports/events.js';
import type { GuessProbe, GuessStanding, KnownClientRecord } from './ports/rate-limits.js';

interface AuthSettings {
  /** A user name must match this (json-data-server's userIdRE). */
  usernamePattern: string;
  /** The `role` claim of ordinary users (PostgREST's authenticated role). */
  authenticatedRole: string;
  /** postgrest-auth's role per user: the `role` claim names the user's own database role. */
  rolePerUser: boolean;
  /**
   * Roles no user's own role may be named (compared without case): the anonymous, authenticated and
   * service roles and PostgREST's login role, which every token consumer's policies trust by name.
   */
  reservedRoles?: readonly string[];
  /** An account with an unconfirmed email address may not sign in. */
  requireEmailConfirmation?: boolean;
  /**
   * A password change through the user's own session (GoTrue's PUT /user) needs a mailed code when the
   * session is older than REAUTHENTICATION_WINDOW (GoTrue's update_password_require_reauthentication).
   */
  passwordChangeRequiresReauthentication?: boolean;
  /** Most bytes of JSON a user's data may grow to by updates (bodyLimit; see mergeMetadata). */
  maxUserDataBytes: number;
}

/** A session younger than this changes its password without a code, as GoTrue's (24 hours). */
const REAUTHENTICATION_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface AuthDeps {
  store: Store;
  hasher: PasswordHasher;
  tokens: TokenService;
  sessions: SessionManager;
  settings: AuthSettings;
  notifier?: Notifier;
  /** Where security events go; none: not recorded. */
  audit?: AuditLog;
  /** Sends the confirmation mail of a sign-up that must confirm its address, and starts email changes. */
  emailFlows: EmailFlows;
  clock?: () => Date;
  /** Runs the work done after the answer (mail for an existing account), reporting its failures. */
  background: BackgroundWork;
  /** Hears of sign-ins and refresh-token reuse (metrics); none: nobody listens. */
  events?: AuthEvents;
  /** Wrong passwords allowed per account from every client and dialect together (off: rule.max 0). */
  passwordGuesses: AccountGuessLimit;
}

/** An access token alone, for a session that goes on (postgrest-auth's bearer refresh). */
export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
  expiresAt: number;
  claims: AccessClaims;
}

/** What a successful sign-up, sign-in or refresh hands the client. */
export interface IssuedSession extends IssuedAccessToken {
  user: User;
  session: Session;
  refreshToken: string;
  /** The user's identities, when the store read them with a refreshed token (Rotated.identities). */
  identities?: Identity[];
}

/**
 * Claims a dialect adds to an access token, from its user and session (postgrest-auth's `payload` and
 * `count`, GoTrue's `email`, `amr` ...). `authMethod`, when set, is how the dialect names the way a
 * session it opens was authenticated (GoTrue's amr method: 'otp', 'magiclink' ...): the session keeps
 * it (Session.amr). Unset, the use case's own word stands ('password' for a password sign-in).
 */
export type ExtraClaims = ((user: User, session: Session) => Record<string, unknown>) & {
  readonly authMethod?: string;
};

/** The method a session opened by a use case records: the dialect's word for it, else the use case's. */
function authMethodOf(extraClaims: ExtraClaims | undefined, fallback: string): string {
  return extraClaims?.authMethod ?? fallback;
}

export interface SignUpInput {
  username?: string | null;
  email?: string | null;
  password: string;
  profile?: Record<string, unknown>;
  emailConfirmed?: boolean;
  /** Where the confirmation link leads after confirming (already checked against the allow-list). */
  redirectTo?: string | null;
  /** false: no welcome or confirmation mail (an admin generating the link sends it). */
  sendMail?: boolean;
  /** The client's PKCE challenge: the confirmation link then ends a PKCE flow (see PkceFlows). */
  pkce?: PkceChallenge | null;
}

export interface CheckResult {
  claims: AccessClaims;
  user: User;
  session: Session;
}

export type SignOutScope = 'local' | 'global' | 'others';

/**
 * invalid_credentials, naming the user the login found (null: none), so the failed sign-in's audit
 * event names it without looking the login up a second time (a round trip on PostgreSQL).
 */
class CredentialsRefused extends AuthError {
  constructor(readonly userId: string | null) {
    super('invalid_credentials');
  }
}

/**
 * The auth use cases. Every rule (password policy, enumeration-safe answers,
 * reuse detection, revocation) lives here once; dialects only translate.
 */
export class AuthService {
  private readonly usernamePattern: FormatPattern;
  private readonly reservedRoles: ReadonlySet<string>;
  private readonly now: () => Date;
  private readonly notifier: Notifier;
  /** How long creating an account took lately: a taken address's sign-up waits as long (see assertAvailable). */
  private readonly accountWrite = new DurationSampler({ size: 64, initial: 10 });

  constructor(private readonly deps: AuthDeps) {
    this.usernamePattern = compileFormatPattern(deps.settings.usernamePattern);
    // Lower-cased once: every token signed is checked against them (sign).
    this.reservedRoles = new Set((deps.settings.reservedRoles ?? []).map((name) => name.toLowerCase()));
    this.now = deps.clock ?? (() => new Date());
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
    return this.observed('signup', async () => {
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
    return this.issue(user, session, first.refreshToken, now, extraClaims);
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
    return this.issue(user, session, first.refreshToken, now, extraClaims);
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
    if (this.isReservedRole(role)) {
      throw new AuthError('validation_failed', 'This user name cannot name a database role: it is reserved');
    }
    return role;
  }

  private isReservedRole(role: string): boolean {
    return this.reservedRoles.has(role.toLowerCase());
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

  /** Whether this account must confirm its address before signing in. */
  mustConfirm(user: Pick<User, 'email' | 'emailConfirmedAt'>): boolean {
    return (
      this.deps.settings.requireEmailConfirmation === true &&
      user.email !== null &&
      user.emailConfirmedAt === null
    );
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
    return this.observed('password', () => this.signInWithPassword(client, login, password, extraClaims));
  }

  /** Reports a sign-in's outcome (its error code when refused) to the observer (metrics). */
  private async observed(method: SignInMethod, signIn: () => Promise<IssuedSession>): Promise<IssuedSession> {
    try {
      const issued = await signIn();
      this.events.signIn('success', method);
      return issued;
    } catch (error) {
      this.events.signIn(error instanceof AuthError ? error.code : 'error', method);
      throw error;
    }
  }

  private get events(): AuthEvents {
    return this.deps.events ?? unobserved;
  }

  private async signInWithPassword(
    client: Client,
    login: string,
    password: string,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    let user: User;
    try {
      ({ user } = await this.proveCredentials(login, password, client));
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
    const signedIn = await this.guessesOf(client)
      .opening(user.id, now, (known) =>
        this.recordSignIn(client, user, now, authMethodOf(extraClaims, 'password'), known),
      )
      .catch((error: unknown) => {
        // A ban committed after the user was read: the store opened no session (Store.createSession).
        if (isAuthError(error) && error.code === 'user_banned')
          throw new AuthError('user_banned', undefined, { status: 400 });
        throw error;
      });
    return this.issue(signedIn.user, signedIn.session, signedIn.refreshToken, now, extraClaims);
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
    now: Date,
    authMethod: string,
    knownClient: KnownClientRecord | null,
  ): Promise<{ user: User; session: Session; refreshToken: string }> {
    const audited = { userId: user.id, data: { via: 'password' } };
    const { store, sessions, audit } = this.deps;
    if (store.openSignIn) {
      const { session, refreshToken } = sessions.prepare(user.id, now, authMethod);
      const event = audit?.event('sign_in', client, audited) ?? null;
      const opened = await store.openSignIn({ lastSignInAt: now, session, audit: event, knownClient });
      if (event) await audit?.stored(event);
      return { ...opened, refreshToken };
    }
    const [signedIn, opened] = await Promise.all([
      store.updateUser(user.id, { lastSignInAt: now }),
      sessions.start(user.id, now, authMethod, knownClient),
    ]);
    await audit?.record('sign_in', client, audited);
    return { user: signedIn, session: opened.session, refreshToken: opened.refreshToken };
  }

  /** Checks a login and password without opening a session (`client`: who asks, for the guess limit). */
  async verifyCredentials(login: string, password: string, client: Client | null = null): Promise<User> {
    return (await this.proveCredentials(login, password, client)).user;
  }

  /**
   * Checks a login and password, and returns the user with the hash that
   * proved it: a password change made with this proof must find that hash
   * still stored (compare-and-set, see Store.changePassword).
   */
  private async proveCredentials(
    login: string,
    password: string,
    client: Client | null,
  ): Promise<{ user: User; hash: string }> {
    if (login.length === 0 || login.length > MAX_LOGIN_LENGTH) {
      await this.deps.hasher.verifyDummy(password);
      throw new CredentialsRefused(null);
    }
    const key = storedLoginKey(login) ?? login;
    const guesses = this.guessesOf(client);
    const found = await this.findWithPasswordHash(login, guesses.probe(key));
    const user = found?.user ?? null;
    const hash = found?.passwordHash ?? null;
    if (!user || hash === null) {
      // Sure to fail, but counted and refused as an account's check (every spelling of the login one key).
      await guesses.run(user?.id ?? unknownAccount(key), found?.guesses, async () => {
        await this.deps.hasher.verifyDummy(password);
        return false;
      });
      throw new CredentialsRefused(user?.id ?? null);
    }
    const right = await guesses.run(user.id, found?.guesses, () => this.deps.hasher.verify(password, hash));
    if (!right) throw new CredentialsRefused(user.id);
    if (this.deps.hasher.needsRehash(hash)) {
      const upgraded = await this.deps.hasher.hash(password);
      // Only over the hash just verified: the password was changed meanwhile when it moved, and this
      // proof of the old one is worth nothing.
      if (!(await this.deps.store.replacePasswordHash(user.id, upgraded, hash)))
        throw new CredentialsRefused(user.id);
      return { user, hash: upgraded };
    }
    return { user, hash };
  }

  /** The per-account guess limit as `client` meets it. */
  private guessesOf(client: Client | null): ClientGuesses {
    return this.deps.passwordGuesses.forClient(client, this.deps.store);
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
    if (!user) throw new AuthError('session_not_found');
    this.assertNotBanned(user, now);
    if (namedUser !== null && !namesUser(user, namedUser)) {
      await this.signOut(client, session.id, user.id, 'local');
      throw new AuthError('refresh_token_not_found', 'Refresh token does not belong to this user');
    }
    const issued = await this.issue(user, session, successor, now, extraClaims);
    return identities ? { ...issued, identities } : issued;
  }

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
    this.assertHonoured(claims, { session, user: found?.user ?? null }, now, namedUser);
    // Both found: assertHonoured refuses a missing one.
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
    this.assertHonoured(claims, standing, now, namedUser);
    // assertHonoured refuses a missing user.
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
  private assertHonoured(
    claims: AccessClaims,
    { session, user }: TokenStanding,
    now: Date,
    namedUser: string | null,
  ): void {
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
    if (namedUser !== null && !namesUser(user, namedUser))
      throw new AuthError('bad_jwt', 'token does not belong to this user');
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

  /**
   * Changes the password of the caller signed in as `userId` (its session proves it) and ends every
   * other session: the caller's session and access token go on. A change proven by the current
   * password is changePasswordWithCurrent's: every password check goes through proveCredentials, so
   * none escapes the per-account guess limit.
   */
  async changePassword(
    client: Client,
    input: { userId: string; newPassword: string; keepSessionId: string },
  ): Promise<User> {
    const user = await this.deps.store.findUserById(input.userId);
    if (!user) throw new AuthError('user_not_found');
    const { changed } = await this.storeNewPassword(
      client,
      user,
      input.newPassword,
      input.keepSessionId,
      undefined,
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
    changes: Parameters<AuthService['updateOwnAccount']>[2],
    takesAddressNow: boolean,
    mailedChange: string | null,
  ): Promise<User> {
    let user = checked.user;
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
        { unlessBannedAt: this.now() },
      );
    }
    if (changes.email !== undefined && takesAddressNow) {
      user = await this.makePermanent(client, user, changes.email);
    } else if (mailedChange !== null) {
      await this.deps.emailFlows.startEmailChange(
        user,
        mailedChange,
        changes.redirectTo,
        changes.pkce ?? null,
        checked.session.id,
      );
    }
    if (changes.password !== undefined) {
      // The caller's session goes on (GoTrue's behaviour); every other session ends.
      user = await this.changePassword(client, {
        userId: user.id,
        newPassword: changes.password,
        keepSessionId: checked.session.id,
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

  /** An anonymous user's address, taken without confirmation: the user is permanent from now on. */
  private async makePermanent(client: Client, user: User, newEmail: string): Promise<User> {
    const email = checkEmail(newEmail);
    await assertAddressFree(this.deps.store, email, user.id);
    const now = this.now();
    // Its holder is its owner (nobody else proved the address): its client is the account's known one.
    // Not at the anonymous sign-up: an address another proves by mail (EmailFlows) is that one's account.
    const permanent = await this.guessesOf(client).opening(user.id, now, (knownClient) =>
      this.deps.store.updateUser(
        user.id,
        { email, emailConfirmedAt: now, isAnonymous: false },
        { unlessBannedAt: now, knownClient },
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
    const { user, hash } = await this.proveCredentials(input.login, input.currentPassword, client);
    // It answers a session, which a sign-in would refuse until the address is confirmed.
    if (this.mustConfirm(user)) throw new AuthError('email_not_confirmed');
    // Before the write: openSession's check came after the banned user's new password was stored.
    this.assertNotBanned(user, this.now());
    const { changed, now } = await this.storeNewPassword(client, user, input.newPassword, null, hash);
    return this.openSession(client, changed, now, input.extraClaims, 'password');
  }

  /** Hashes and stores a new password, as a compare-and-set on `expectedHash` when given (see Store). */
  private async storeNewPassword(
    client: Client,
    user: User,
    newPassword: string,
    keepSessionId: string | null,
    expectedHash: string | undefined,
  ): Promise<{ changed: User; now: Date }> {
    this.deps.hasher.assertAcceptable(newPassword);
    const passwordHash = await this.deps.hasher.hash(newPassword);
    const now = this.now();
    const changed = await this.deps.store.changePassword(
      user.id,
      passwordHash,
      keepSessionId,
      now,
      expectedHash,
    );
    await this.deps.audit?.record('password_changed', client, { userId: user.id });
    return { changed, now };
  }

  /** A new access token for a session that is still honoured (see check), without rotating anything. */
  async reissue(checked: CheckResult, extraClaims?: ExtraClaims): Promise<IssuedAccessToken> {
    const now = this.now();
    // The session rules of a rotating refresh: an idle session ends rather than living on by
    // re-issue, and a re-issue is activity (postgrest-auth's clients have no other refresh).
    await this.deps.sessions.recordActivity(checked.session.id, now);
    return this.sign(checked.user, checked.session, now, extraClaims);
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
    const user = await this.findByLogin(login);
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
    const named = input.login === undefined ? null : await this.findByLogin(input.login);
    const consumed = await this.deps.emailFlows.consumeResetSecret(input.token, named?.email ?? null);
    const owner = consumed && (await this.deps.store.findUserById(consumed.userId));
    // A token presented with another account's name is spent all the same: it has been exposed.
    if (!consumed || !owner || (input.login !== undefined && !namesUser(owner, input.login)))
      throw new AuthError('otp_expired');
    this.assertNotBanned(owner, this.now());
    const passwordHash = await this.deps.hasher.hash(input.newPassword);
    const now = this.now();
    // Refused by the write (a verified MFA factor), the token works again once that is fixed.
    const user = await this.deps.emailFlows.changePasswordSpent(consumed, passwordHash, now);
    await this.deps.audit?.record('password_recovered', client, { userId: user.id, data: { via: 'token' } });
    return this.openSession(client, user, now, input.extraClaims, 'recovery');
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

  /**
   * Changes the address of an account whose password the caller has just proven (postgrest-auth's
   * change_email). Where addresses must be confirmed (requireEmailConfirmation), nothing changes
   * yet: the email change's mails go out and following them sets it (EmailFlows.requestEmailChange,
   * as GoTrue's PUT /user): a password proves no mailbox, and an address set at once was held,
   * unconfirmed, by whoever typed it first, its recovery mails going to its owner. Elsewhere (no
   * confirmation to prove it with: postgrest-auth's own configs) it is set at once, unconfirmed.
   */
  async changeEmail(userId: string, newEmail: string): Promise<'changed' | 'confirming'> {
    const email = checkEmail(newEmail);
    await assertAddressFree(this.deps.store, email, userId);
    const user = await this.deps.store.findUserById(userId);
    if (!user) throw new AuthError('invalid_credentials');
    // The password proves its holder, whom the ban refuses as it refuses their sign-in.
    this.assertNotBanned(user, this.now());
    if (this.deps.settings.requireEmailConfirmation === true) {
      await this.deps.emailFlows.requestEmailChange(user, email, null);
      return 'confirming';
    }
    await this.deps.store.updateUser(
      userId,
      { email, emailConfirmedAt: null },
      { unlessBannedAt: this.now() },
    );
    return 'changed';
  }

  /**
   * Looks a user up by email address when the login has an `@`, else by user
   * name: one or the other, never both, so no name can shadow an address.
   * Both go by their login key (see identity.ts).
   */
  async findByLogin(login: string): Promise<User | null> {
    const key = storedLoginKey(login);
    if (key === null) return null;
    return isEmailLogin(key) ? this.deps.store.findUserByEmail(key) : this.deps.store.findUserByUsername(key);
  }

  /** findByLogin with the user's password hash: one store call where the store can (one round trip). */
  private async findWithPasswordHash(
    login: string,
    guesses: GuessProbe | null,
  ): Promise<{ user: User | null; passwordHash: string | null; guesses?: GuessStanding } | null> {
    const { store } = this.deps;
    if (!store.findUserWithPasswordHash) {
      const user = await this.findByLogin(login);
      return user && { user, passwordHash: await store.getPasswordHash(user.id) };
    }
    const key = storedLoginKey(login);
    return key === null ? null : store.findUserWithPasswordHash(key, isEmailLogin(key), guesses);
  }

  /**
   * Refuses what startSession would: a banned user (user_banned), one with a verified MFA factor
   * (insufficient_aal, as the store's session-opening write refuses it; that write still decides a
   * factor verified since). Asked also before a mailed link hands on a PKCE code instead of a
   * session: the code's exchange was refused after the link and the code were both spent.
   */
  async assertMayStartSession(user: User, now: Date = this.now()): Promise<void> {
    this.assertNotBanned(user, now);
    const factors = await this.deps.store.listMfaFactors(user.id);
    if (factors.some((factor) => factor.status === 'verified')) throw new AuthError('insufficient_aal');
  }

  /** Throws user_banned while the user's ban lasts (GoTrue's banned_until). */
  assertNotBanned(user: Pick<User, 'bannedUntil'>, now: Date, status?: number): void {
    assertNotBanned(user, now, status);
  }

  private async openSession(
    client: Client,
    user: User,
    now: Date,
    extraClaims: ExtraClaims | undefined,
    authMethod: string,
  ): Promise<IssuedSession> {
    // Every session opens here or in signIn: none for a banned user (a password change or reset included).
    this.assertNotBanned(user, now);
    const { session, refreshToken } = await this.guessesOf(client).opening(user.id, now, (known) =>
      this.deps.sessions.start(user.id, now, authMethodOf(extraClaims, authMethod), known),
    );
    return this.issue(user, session, refreshToken, now, extraClaims);
  }

  private async issue(
    user: User,
    session: Session,
    refreshToken: string,
    now: Date,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedSession> {
    return { user, session, refreshToken, ...(await this.sign(user, session, now, extraClaims)) };
  }

  private async sign(
    user: User,
    session: Session,
    now: Date,
    extraClaims?: ExtraClaims,
  ): Promise<IssuedAccessToken> {
    // An account made before such names were refused at sign-up (ownRoleFor) may still hold one:
    // no token claims it, whatever the path (sign-in, refresh, link, bearer re-issue).
    if (user.role !== null && this.isReservedRole(user.role)) {
      throw new AuthError(
        'forbidden',
        "This account's database role is reserved: an administrator must remove it",
      );
    }
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

  /** Runs `work` after the answer (see BackgroundWork). */
  private background(work: () => Promise<void>): void {
    this.deps.background.run(work);
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

/** The login key a stored login could have, or null when none can (no need to ask the store). */
function storedLoginKey(login: string): string | null {
  // No stored login holds NUL (nor is that long): the store may refuse such a key.
  if (login.length > MAX_LOGIN_LENGTH || login.includes('\u0000')) return null;
  const key = loginKey(login);
  return key.length === 0 ? null : key;
}
