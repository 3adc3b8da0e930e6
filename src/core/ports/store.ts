import type { OutgoingMail } from './outbox.js';
import type { GuessProbe, GuessStanding, KnownClientRecord } from './rate-limits.js';

/**
 * The Store interface: the persistence verbs the auth domain needs, and
 * nothing else. Each store (file, postgres) implements it and passes the one
 * contract suite, test/contract/store/ (store-contract.ts, run on each store
 * by file.test.ts and postgres.test.ts).
 *
 * Rules every implementation keeps:
 * - Anything single-use is consumed atomically (one conditional statement, or
 *   inside the serialized write queue), never find-then-delete.
 * - A promise that resolves means the change is durable.
 * - User names and emails are unique, and looked up, by their login key
 *   (core/identity.ts: trimmed, NFKC, case-folded), computed in JavaScript,
 *   never by SQL; emails are stored as that key. Uniqueness conflicts throw
 *   AuthError('user_already_exists') or AuthError('email_exists').
 * - Dates are Date objects; secrets arrive already hashed (base64url: SHA-256 of a
 *   random secret, or a keyed hash of a short code).
 */

export interface User {
  /** Stable identifier, the access token's `sub`. Chosen by the store (see NewUser). */
  id: string;
  /** Login name, or null for an email-only account. */
  username: string | null;
  /** The email address in its login key form (see core/identity.ts), or null. */
  email: string | null;
  emailConfirmedAt: Date | null;
  /** A database role of the user's own (postgrest-auth role-per-user), else null. */
  role: string | null;
  /** Bumped by a password change: access tokens carrying an older version are refused. */
  tokenVersion: number;
  /** Free-form data the user may edit (json-data-server's extra register fields, GoTrue user_metadata). */
  profile: Record<string, unknown>;
  /**
   * Data only the server or an admin may edit (GoTrue app_metadata), with GoTrue's `provider` and
   * `providers`, which the stores keep following the identities (core/identities.ts withProviders). An
   * account stored without `providers` may show them made from its identities (the file store's
   * accounts from before they were stored; PostgreSQL's were given them by migration 31).
   */
  appMetadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  lastSignInAt: Date | null;
  /** Banned until then (GoTrue's banned_until): no sign-in, refresh or authenticated request; null: not banned. */
  bannedUntil: Date | null;
  /**
   * An anonymous sign-in's user (GoTrue's is_anonymous): no address, no password, no identity;
   * permanent once it confirms an address.
   */
  isAnonymous: boolean;
  /**
   * GoTrue's audience of the user (auth.users.aud, the JWT audience it signed up under), or null
   * where the store keeps none (the file store): the configured audience is the user's.
   */
  aud: string | null;
  /** When the user was last invited by an administrator (GoTrue's invited_at), else null. */
  invitedAt: Date | null;
}

export interface NewUser {
  /**
   * The id to use. When omitted the store chooses: the file store uses the
   * username when there is one (json-data-server's credentials format keys
   * passwords by the login name), else a random UUID; PostgreSQL uses its own.
   */
  id?: string;
  username: string | null;
  email: string | null;
  emailConfirmedAt: Date | null;
  role: string | null;
  profile: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
  /** An anonymous sign-in's user (absent: false). */
  isAnonymous?: boolean;
  /**
   * Whether the address gets its `email` identity (absent: true). False for a user an external
   * provider signs up: GoTrue gives such a user only the provider's identity.
   */
  emailIdentity?: boolean;
  /**
   * A sign-up whose first session is also its first sign-in (GoTrue's autoconfirm): its
   * last_sign_in_at is its creation time, never before it.
   */
  signedIn?: boolean;
  /** A user an administrator creates banned (ban_duration): banned from its first commit. */
  bannedUntil?: Date;
}

export type UserPatch = Partial<
  Pick<
    User,
    | 'username'
    | 'email'
    | 'emailConfirmedAt'
    | 'profile'
    | 'appMetadata'
    | 'lastSignInAt'
    | 'bannedUntil'
    | 'isAnonymous'
    | 'invitedAt'
  >
> & {
  /**
   * With `email`: whether the address set gets its `email` identity (absent: true). False when the
   * address comes from a provider's identity (GoTrue's UpdateUserEmailFromIdentities creates none).
   */
  emailIdentity?: boolean;
};

/**
 * A way a user signs in, as GoTrue keeps it (auth.identities): the `email`
 * identity of a user with an address, and one per external provider. Unique
 * per (provider, providerId).
 */
export interface Identity {
  /** The identity's own id (a UUID): GoTrue's `identity_id` on the wire. */
  id: string;
  userId: string;
  /** 'email', or an external provider's name ('github', 'google', ...). */
  provider: string;
  /** The user's id at the provider; for the `email` identity, the user's own id (as GoTrue). */
  providerId: string;
  /** What the provider says of the user (`sub`, `email`, `email_verified`, ...). */
  identityData: Record<string, unknown>;
  /** identity_data's `email`, lower-cased (GoTrue's generated column), or null. */
  email: string | null;
  lastSignInAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** An identity to link (Store.linkIdentity). */
export interface NewIdentity {
  userId: string;
  provider: string;
  providerId: string;
  identityData: Record<string, unknown>;
  /** Its creation, update and last sign-in time. */
  now: Date;
}

/**
 * A way a session was authenticated, as GoTrue's `amr` claim and its auth.mfa_amr_claims name it:
 * 'password', 'otp', 'magiclink', 'recovery', 'invite', 'email/signup', 'email_change', 'anonymous',
 * 'oauth', ... with when.
 */
export interface AmrClaim {
  method: string;
  at: Date;
}

/**
 * A session and its user as far as an access token's check reads them (AuthService.check): whether the
 * session is live and the user's, the user's ban and token version, and the names a request may ask
 * the token to be. Null: not found.
 */
export interface TokenStanding {
  session: Pick<Session, 'userId' | 'notAfter' | 'revokedAt'> | null;
  user: Pick<
    User,
    'id' | 'username' | 'email' | 'bannedUntil' | 'tokenVersion' | 'aud' | 'isAnonymous'
  > | null;
}

export interface Session {
  id: string;
  userId: string;
  createdAt: Date;
  /** Last rotation of its refresh token: the inactivity timeout counts from here. */
  refreshedAt: Date;
  /** Absolute end of the session, whatever its activity. */
  notAfter: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  /**
   * Server-side key from which each successor refresh token is derived
   * (HMAC of the presented token), so a refresh repeated within the grace
   * period returns the same successor without any token being stored in clear.
   */
  refreshSecret: string;
  /**
   * How successors derive (core/sessions.ts): 'server-key' HMAC(the server's successor key, presented
   * token), so a store can rotate in one statement from hashes Node computed first (PostgreSQL's
   * sessions since migration 28); absent or 'session-secret': HMAC(refreshSecret, presented token).
   */
  chain?: 'session-secret' | 'server-key';
  /**
   * How the session was authenticated, oldest first: kept for its whole life, so a refreshed access
   * token states how the session began, as GoTrue's; [] when none was recorded (sessions from before).
   */
  amr: readonly AmrClaim[];
}

export interface NewSession {
  id: string;
  userId: string;
  createdAt: Date;
  notAfter: Date;
  refreshSecret: string;
  /** SHA-256 of the session's first refresh token. */
  firstRefreshTokenHash: string;
  /** The method that authenticated it (GoTrue's amr method), recorded with createdAt; absent: none. */
  authMethod?: string;
  /**
   * The most live sessions the user may hold, this one included: the oldest
   * beyond it are deleted with their refresh tokens (0: no limit).
   */
  maxPerUser: number;
}

/** A new user's first session, written with the user (Store.createUser): its user is the new one. */
export type FirstSession = Omit<NewSession, 'userId' | 'maxPerUser'>;

/** What a sign-up writes with its user, all in one transaction (see Store.createUser). */
export interface SignUpWrites {
  session?: FirstSession;
  /**
   * Mails to queue with the user (the welcome mail): in its commit, so a sign-up that failed mails
   * nobody. A store may still create the account when the mail alone cannot be queued (logged): the
   * welcome carries no secret, and a finished sign-up must not fail for it.
   */
  mails?: readonly OutgoingMail[];
  /**
   * A provider's identity (as linkIdentity links it; its user the new one), in the same commit: a
   * social sign-up is never left an account without the identity it signs in with. One another user
   * holds meanwhile (a racing callback): AuthError('identity_already_exists'), nothing written.
   */
  identity?: Omit<NewIdentity, 'userId'>;
  /**
   * With `session`, for a store that recordsKnownClients: the guess limit's known client, written
   * with the session (its key: `prefix` followed by the new user's id).
   */
  knownClient?: { prefix: string; until: Date } | null;
}

export interface RefreshTokenRecord {
  hash: string;
  sessionId: string;
  createdAt: Date;
  /** When it was exchanged for its successor; null while it is the live token. */
  rotatedAt: Date | null;
}

/** A refresh token found with its session and that session's user (null if deleted meanwhile). */
export interface FoundRefreshToken {
  token: RefreshTokenRecord;
  session: Session;
  user: User | null;
  /**
   * The user has a verified MFA factor (PostgreSQL: GoTrue's mfa_factors), which restauth does not
   * check: the store never rotates such a user's token, and the refresh is refused insufficient_aal.
   * Absent: the store has no factors (the file store).
   */
  userHasVerifiedFactor?: boolean;
  /**
   * The user's identities, oldest first, read by the statement that found the token (PostgreSQL's
   * refresh statements): GoTrue answers a refresh with them, and reading them after it was a second
   * round trip per refresh. Absent: not read with the token.
   */
  identities?: Identity[];
}

/** Store.refreshInOneStatement's answer: the token found, and whether the statement rotated it. */
export interface OneStatementRefresh {
  found: FoundRefreshToken;
  rotated: boolean;
}

export interface OneTimeToken {
  /** SHA-256 of the link's 256-bit secret: consumeOneTimeToken finds the token by it. */
  hash: string;
  /**
   * A second secret that consumes the same token: the keyed hash of a short code a
   * user types (GoTrue's 6-digit OTP), bound to the recipient and purpose (see
   * core/one-time-tokens.ts). Only consumeOneTimeCode looks at it, never the
   * link lookup: a guessable code must not be usable where a 256-bit secret is
   * expected. Consuming by either deletes the one record, so link and code are
   * spent together. One code hash names one token at a time.
   */
  codeHash: string | null;
  /**
   * The lower-cased address the code was mailed to (absent or null: no code).
   * A wrong code typed for this address counts against the token (see consumeOneTimeCode).
   */
  recipient?: string | null;
  userId: string;
  /** What the token is for: 'recovery', 'confirmation', 'email_change_current', 'email_change_new', ... */
  purpose: string;
  createdAt: Date;
  expiresAt: Date;
  /** Purpose-specific data, e.g. the new email address of an email change. */
  data: Record<string, unknown>;
}

/** A security event (sign-in, failed sign-in, refresh-token reuse, password change, logout, admin action). */
export interface AuditEvent {
  id: string;
  at: Date;
  /** What happened, e.g. 'sign_in', 'sign_in_failed', 'refresh_token_reused', 'admin_user_deleted'. */
  action: string;
  /** Who did it: the user themself, an admin's user id, or null (anonymous, e.g. a failed sign-in). */
  actorId: string | null;
  /** Whom it concerns, or null when no account is known (a failed sign-in for an unknown login). */
  userId: string | null;
  /** The client address, as the rate limiter sees it; null outside a request. */
  ip: string | null;
  /** Action-specific details: never secrets or password hashes. */
  data: Record<string, unknown>;
}

export interface AuditPage {
  /** Newest first. */
  events: AuditEvent[];
  total: number;
}

/**
 * An MFA factor as GoTrue keeps it (auth.mfa_factors), without its secret. A verified one keeps its
 * user out of restauth (insufficient_aal) until deleted: restauth has no second factor to ask for.
 */
export interface MfaFactor {
  id: string;
  factorType: string;
  status: string;
  friendlyName: string | null;
  phone: string | null;
  createdAt: Date;
  updatedAt: Date;
  lastChallengedAt: Date | null;
}

/** What an administrator changes of a factor (null: kept). */
export interface MfaFactorChange {
  friendlyName: string | null;
  phone: string | null;
}

/** createOneTimeToken's refusal of a code hash that already names another token. */
export class CodeHashInUseError extends Error {
  constructor() {
    super('this one-time code is in use by another token; draw another');
    this.name = 'CodeHashInUseError';
  }
}

/**
 * updateUser's refusal of a write conditional on the user's data (whileProfileIs, whileAppMetadataIs)
 * when that data changed since the caller read it: nothing was written; read the user again and merge anew.
 */
export class UserDataChangedError extends Error {
  constructor() {
    super("the user's data changed since it was read; merge into it again");
    this.name = 'UserDataChangedError';
  }
}

/** updateUser's conditions: when one refuses, nothing changes (see there). */
export interface UserUpdateConditions {
  unlessBannedAt?: Date;
  /** Written only while the user's profile (user_metadata) is still this, as findUserById answers it. */
  whileProfileIs?: Record<string, unknown>;
  /** Written only while the user's appMetadata is still this, as findUserById answers it. */
  whileAppMetadataIs?: Record<string, unknown>;
  /**
   * Written only while the user's stored password hash is still this one (the hash a password was
   * just verified against): AuthError('invalid_credentials') otherwise, nothing written. A change a
   * password licenses (postgrest-auth's change_email) must not land once that password was replaced.
   */
  whilePasswordHashIs?: string;
  /**
   * Written only while this session of the user is live at `at` (not ended, not past its end):
   * AuthError('session_not_found') otherwise, nothing written. A change a session licensed (an email
   * change asked in it) must not land once that session was signed out.
   */
  whileSessionLive?: { sessionId: string; at: Date };
  /**
   * Not a condition: the guess limit's known client, written with the change by a store that
   * `recordsKnownClients` (an anonymous user its holder makes permanent); another ignores it.
   */
  knownClient?: KnownClientRecord | null;
}

/** changePassword's options (see there). */
export interface PasswordChangeOptions {
  evenIfBanned?: boolean;
  knownClient?: KnownClientRecord | null;
  /** The PKCE flow the same request started (an email change asked with the password), which goes on. */
  keptFlowId?: string | null;
}

/** linkIdentity's conditions: when one refuses, nothing is linked (see there). */
export type LinkConditions = Pick<UserUpdateConditions, 'whileSessionLive'>;

/** createOneTimeToken's conditions: when either refuses, nothing is stored (see there). */
export interface OneTimeTokenConditions {
  unlessIssuedAfter?: Date;
  unlessBannedAt?: Date;
  /** Stored only while the user's address is still this one (compared as login keys). */
  whileAddressIs?: string;
}

/** What createOneTimeToken did: stored the token and its mails, or neither (throttled, banned). */
export interface TokenWrite {
  stored: boolean;
}

/** A user looked up for a password check (Store.findUserWithPasswordHash), with what the limits read. */
export interface PasswordLookup {
  user: User | null;
  passwordHash: string | null;
  guesses?: GuessStanding;
  /** The window of the probe's clientHit, when the store counted it with the lookup. */
  clientHit?: { count: number; resetAt: Date };
}

/** A typed code, as consumeOneTimeCode takes it: one keyed hash per purpose it may spend. */
export interface CodeAttempt {
  recipient: string;
  candidates: readonly { purpose: string; codeHash: string }[];
  now: Date;
  maxFailures: number;
  conditions?: SpendConditions;
}

/**
 * What a live one-time token is spent only under, judged in the spending write (its user's row read
 * there): a refusal that is not the token's own fault leaves it unspent, so the same link or code
 * works once what refused it is over (GoTrue's /verify rolls its transaction back). Judged by a
 * look before the spend, a ban committed in between spent it; judged after, by storing it again, a
 * racing use in between found it gone.
 */
export interface SpendConditions {
  /** Its user banned at this date: AuthError('user_banned'), nothing spent. */
  unlessBannedAt?: Date;
  /**
   * A token of these purposes mailed to an address its user no longer holds (one stored with its
   * recipient): null, nothing spent. A user that is gone: null, nothing spent, for every purpose.
   */
  whileAddressedFor?: readonly string[];
}

export interface UserPage {
  users: User[];
  total: number;
}

export interface Store {
  // Users
  /**
   * Creates the user and its password hash, and with them, in the same
   * transaction, `writes`: its first session and the mails of its sign-up.
   * All or nothing: a failure leaves no account behind, so a retry of the
   * sign-up is a new sign-up, never "already registered".
   */
  createUser(input: NewUser, passwordHash: string | null, writes?: SignUpWrites): Promise<User>;
  /**
   * The user `id` names, or null. `signingIn`: only a user a token may still sign in, for the check
   * of an access token (PostgreSQL: not soft-deleted, whatever trigger a replica-role write skipped).
   */
  findUserById(id: string, options?: { signingIn?: boolean }): Promise<User | null>;
  /**
   * findUserById (signing in) with the user's MFA factors (as listMfaFactors lists them), in one lookup: GET /user
   * answers them (GoTrue's `factors`) and must not pay a second round trip for it.
   */
  findUserWithFactors(id: string): Promise<{ user: User; factors: MfaFactor[] } | null>;
  findUserByUsername(username: string): Promise<User | null>;
  findUserByEmail(email: string): Promise<User | null>;
  /** A page of users in creation order, or newest first with `newestFirst`. */
  listUsers(options: { page: number; perPage: number; newestFirst?: boolean }): Promise<UserPage>;
  /**
   * With `unlessBannedAt`, refused with AuthError('user_banned'), changing nothing, when the user is
   * banned at that time, checked in the write itself: a ban committed after the caller read the user
   * (and asked assertNotBanned) stops it all the same. An address moved by its owner asks this.
   * With `whileProfileIs` or `whileAppMetadataIs`, refused with UserDataChangedError, changing
   * nothing, when that data is no longer what the caller read (compared in the write itself): a
   * merge into what was read would put back what another write removed and drop what it added.
   * With `whilePasswordHashIs`, refused with AuthError('invalid_credentials'), changing nothing, when
   * the stored hash is another (a password change, a reset, an administrator's), compared in the write;
   * with `whileSessionLive`, refused with AuthError('session_not_found') once that session has ended.
   */
  updateUser(id: string, patch: UserPatch, condition?: UserUpdateConditions): Promise<User>;
  /**
   * Deletes the user with its credentials, sessions, one-time tokens and PKCE flows. Returns false
   * when absent. A store whose ids come back (the file store: a json-data-server user's id is its
   * name) also ends, at `now`, the guess limit's known clients of the id (passwordSetRecord), as a
   * password change does: they were the removed user's, not the next holder's.
   */
  deleteUser(id: string, now?: Date): Promise<boolean>;

  // MFA factors (GoTrue's auth.mfa_factors: restauth enrolls none, an adopted GoTrue database has them)
  /** The user's factors, oldest first; [] where the store keeps none (the file store). */
  listMfaFactors(userId: string): Promise<MfaFactor[]>;
  /** Deletes the user's factor `factorId` and returns it; null when the user has no such factor. */
  deleteMfaFactor(userId: string, factorId: string): Promise<MfaFactor | null>;
  /**
   * Changes the user's factor `factorId` (GoTrue's admin factor update): its friendly name when given,
   * its phone when given and it is a phone factor; updated_at = now. Returns it as changed; null when
   * the user has no such factor. A name another factor of the user has: mfa_factor_name_conflict.
   */
  updateMfaFactor(
    userId: string,
    factorId: string,
    change: MfaFactorChange,
    now: Date,
  ): Promise<MfaFactor | null>;

  // Identities (GoTrue's auth.identities). The `email` identity follows the
  // user's address, as GoTrue's: createUser writes it (unless
  // NewUser.emailIdentity is false: a provider's sign-up), updateUser writes
  // or updates it when the address is set (GoTrue's email change) and only
  // updates an existing one when just the confirmation changes (an OAuth user
  // confirming its address gets none), removes it with the address
  // (provider_id the user's id; identity_data's email and email_verified those
  // of the address), and deleteUser removes every identity of the user.
  /** The user's identities, oldest first. */
  listIdentities(userId: string): Promise<Identity[]>;
  /**
   * The identities of several users in one lookup (one query: a page of the admin user list), each
   * user's oldest first; a user without any, or unknown, maps to [].
   */
  listIdentitiesOfUsers(userIds: readonly string[]): Promise<Map<string, Identity[]>>;
  findIdentity(provider: string, providerId: string): Promise<Identity | null>;
  /**
   * Links (provider, providerId) to the user, atomically (any provider but
   * `email`, whose identity follows the address): a new identity when
   * it is nobody's; when it is already this user's, its identity_data merged
   * with the new one and its last sign-in set; another user's is refused with
   * AuthError('identity_already_exists'), however many link it at once.
   * Throws AuthError('user_not_found') for an unknown user, and AuthError('user_banned') for a user
   * banned at `now`, checked in the write (see updateUser's `unlessBannedAt`). With `whileSessionLive`
   * (the session that asked for the link, GoTrue's linkIdentity), refused with
   * AuthError('session_not_found'), nothing linked, once that session has ended, checked in the write
   * (see updateUser's): a sign-out that lands after the session was looked up stops the link.
   */
  linkIdentity(identity: NewIdentity, condition?: LinkConditions): Promise<Identity>;
  /**
   * Removes one of the user's identities, atomically: refused with
   * AuthError('single_identity_not_deletable') when it is the user's last,
   * AuthError('email_conflict_identity_not_deletable') when it is the `email`
   * identity of the user's address (it goes with the address), and
   * AuthError('identity_not_found') when the user has no identity of that id. With `whileSessionLive`
   * (the session that asked for it), refused with AuthError('session_not_found'), nothing removed,
   * once that session has ended, checked in the write (see linkIdentity's).
   */
  unlinkIdentity(userId: string, identityId: string, condition?: LinkConditions): Promise<void>;
  /**
   * Removes every identity of the user but `keptIdentityId` (null: every one), its `email` identity
   * too (the address stays, with no identity of its own), and sets its providers from what is left,
   * atomically: what an unproven account held before a verified provider joined it (GoTrue's
   * RemoveUnconfirmedIdentities) or its mailbox's owner confirmed it. Throws
   * AuthError('identity_not_found') when the kept one is not the user's.
   */
  keepOnlyIdentity(userId: string, keptIdentityId: string | null): Promise<void>;

  // Credentials
  getPasswordHash(userId: string): Promise<string | null>;
  /**
   * The user whose login key is `key` (loginKey of a login: an address when `byEmail`, else a user
   * name) with its password hash (getPasswordHash's), at once: a password sign-in's lookup in one
   * round trip (PostgreSQL: one query). Null when no user has it. Optional: core otherwise finds the
   * user, then its hash.
   *
   * With `guesses` (the per-account password-guess limit) it also answers the account's standing
   * read from the shared rate-limit counters in the same statement (no round trip more), and when
   * no user has the login, the login's own standing with a null user.
   */
  findUserWithPasswordHash?(
    key: string,
    byEmail: boolean,
    guesses?: GuessProbe | null,
  ): Promise<PasswordLookup | null>;
  /**
   * Replaces the hash only (algorithm upgrade at login); sessions and token version are untouched.
   * Only while the stored hash is still `expectedHash` (the one just verified): a rehash of the old
   * password never overwrites a password changed meanwhile. Returns whether it replaced it.
   */
  replacePasswordHash(userId: string, passwordHash: string, expectedHash: string | null): Promise<boolean>;
  /**
   * A password change, as one atomic step: stores the hash and revokes every
   * session but `keepSessionId`. With `keepSessionId` null every session ends
   * and the token version is bumped too (tokens of no session, e.g. from
   * postgrest-auth, die with it); with a kept session the version stays, so
   * the caller's current access token goes on working (GoTrue's PUT /user),
   * while the revoked sessions' tokens fail their session check.
   * Returns the user as it is afterwards.
   *
   * Compare-and-set: a change is proven with the current password or with a
   * live session, and fails, changing nothing, once another change has
   * replaced that proof: with `expectedHash` (the hash the current password
   * was verified against) it throws AuthError('invalid_credentials') when the
   * stored hash is another; a kept session that is no longer live (a
   * concurrent change revoked it) throws AuthError('session_not_found').
   * (null: the user must have no password yet). Without `expectedHash` the
   * change is unconditional (a reset token, an admin).
   *
   * A user banned at `now` is refused with AuthError('user_banned'), checked in the same step (see
   * updateUser's `unlessBannedAt`), and a user with a verified MFA factor (PostgreSQL: GoTrue's
   * mfa_factors, which restauth does not check) with AuthError('insufficient_aal'), unless
   * `options.evenIfBanned` (an administrator's change).
   *
   * Every known client of the account (the guess limit's exemption, account-guess-limit.ts) earned
   * before the change stops counting: the store writes passwordSetRecord(userId, now) in the
   * rate-limit counters the guess limit reads, with the change (PostgreSQL: in its transaction; the
   * file store: in its backend's memory counter, once the change committed). `options.knownClient`,
   * the caller's own client where it keeps its session, is written after it by a store that
   * `recordsKnownClients`, in the same step (another ignores it: core remembers it afterwards).
   *
   * Every PKCE flow of the account but `options.keptFlowId` ends in the same step as its sessions
   * (FlowStateStore.endFlowStatesOf's rows): ended after it, a code exchanged in between (its flow
   * found before the change's commit, spent after it) opened a session the change was meant to end.
   */
  changePassword(
    userId: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: Date,
    expectedHash?: string | null,
    options?: PasswordChangeOptions,
  ): Promise<User>;

  // Sessions and refresh tokens
  /**
   * No session opens for a user banned at its createdAt: AuthError('user_banned'), nothing written,
   * checked in the write (see updateUser's `unlessBannedAt`); so does openSignIn.
   * A store that `recordsKnownClients` writes `knownClient` (the guess limit's known client) in the
   * same statement, once the session opened; another ignores it.
   */
  createSession(session: NewSession, knownClient?: KnownClientRecord | null): Promise<Session>;
  /**
   * The store's writes record the guess limit's known clients (createSession's and openSignIn's
   * `knownClient`): its rate-limit counters are its own tables. Absent: core remembers them in the
   * counters after the session opened (a write more, which a memory counter makes for free).
   */
  readonly recordsKnownClients?: true;
  /**
   * A password sign-in's writes at once (PostgreSQL: one transaction, the cap applied while it holds
   * the user's row, so racing sign-ins never exceed it): the user's lastSignInAt (as updateUser
   * writes it), the session as createSession makes it (its first refresh token, its user's cap), and the audit event (null: none), all committed together or none. Throws
   * user_not_found when the user is gone. Optional: core otherwise calls updateUser, createSession and
   * recordAuditEvent.
   *
   * `provenHash`: the hash the sign-in's password was verified against. A password replaced since (a
   * change, a reset: they end the account's sessions) refuses the sign-in with invalid_credentials and
   * leaves it no session, or one that checked the old password during the change (a hash takes
   * milliseconds) opened a session the change never saw, and its holder kept the account.
   */
  openSignIn?(input: {
    lastSignInAt: Date;
    session: NewSession;
    audit: AuditEvent | null;
    provenHash: string;
    /** The rate-limit key that remembers the client as the user's known one (see recordsKnownClients). */
    knownClient?: KnownClientRecord | null;
  }): Promise<{ user: User; session: Session }>;
  findSession(id: string): Promise<Session | null>;
  /**
   * What an access-token check needs of its session and user, and nothing more (see TokenStanding):
   * read on every authenticated request, so a store answers it without building or copying whole
   * records.
   */
  findTokenStanding(sessionId: string, userId: string): Promise<TokenStanding>;
  /** The token with its session and that session's user (one lookup: every refresh needs all three). */
  findRefreshToken(hash: string): Promise<FoundRefreshToken | null>;
  /**
   * Atomically exchanges the live token `presentedHash` for `successorHash`:
   * only when the token exists, is not rotated yet, its session is not
   * revoked, and its user has no verified MFA factor. Also records the activity (session.refreshedAt = now).
   * Returns false when any condition fails: two racing callers rotate once. A user banned at `now`,
   * read in the write: AuthError('user_banned'), nothing rotated (a ban committed after the caller's
   * findRefreshToken spent the token, which then was a replay once the ban was lifted).
   */
  rotateRefreshToken(presentedHash: string, successorHash: string, now: Date): Promise<boolean>;
  /**
   * Records activity on a session without rotating anything (postgrest-auth's bearer re-issue):
   * session.refreshedAt = now, only when the session is not revoked, lasts beyond `now` and was
   * refreshed after `inactiveBefore`, in one step so an idle session cannot be revived by a racing
   * call. False when any condition fails.
   */
  recordSessionActivity(sessionId: string, now: Date, inactiveBefore: Date): Promise<boolean>;
  /**
   * A refresh in one round trip, for a store whose sessions derive successors under the server key
   * (Session.chain 'server-key'): finds the token `presentedHash` in a live session, as
   * findRefreshToken, and in the same statement exchanges it for `successorHash` (as
   * rotateRefreshToken) when the session is 'server-key', the token is not rotated, the session lasts
   * beyond `now` and was refreshed after `inactiveBefore`. `rotated` says whether it did; when not,
   * the caller judges the found token as findRefreshToken's. Null: no live session holds that hash
   * (an ended session's token, another server's, an unknown one: findRefreshToken tells).
   */
  refreshInOneStatement?(
    presentedHash: string,
    successorHash: string,
    now: Date,
    inactiveBefore: Date,
  ): Promise<OneStatementRefresh | null>;
  /**
   * A refresh token the store's database holds in a form restauth did not issue: a database another
   * server made, served as it is (PostgreSQL: GoTrue's raw v1 tokens and v2 tokens signed with their
   * session's key). Null when the token is none of them, or cannot be proven (a forged signature).
   * `spentAt`: null while it is its session's live token; else when it was spent (its session's last
   * activity when the store cannot tell: a replay is judged against it). Optional: a store that only
   * ever held restauth's tokens has none.
   */
  findImportedRefreshToken?(token: string): Promise<{
    session: Session;
    user: User | null;
    spentAt: Date | null;
    /** As FoundRefreshToken's: the store never redeems such a user's token. */
    userHasVerifiedFactor?: boolean;
  } | null>;
  /**
   * Atomically spends the live imported `token` and moves its session into restauth's form: the
   * session's refresh secret becomes `refreshSecret`, `successorHash` its live token. False when the
   * token is no longer live (a racing caller spent it): two racing callers redeem once. A user
   * banned at `now`, read in the write: AuthError('user_banned'), nothing redeemed (as rotateRefreshToken).
   */
  redeemImportedRefreshToken?(
    token: string,
    refreshSecret: string,
    successorHash: string,
    now: Date,
  ): Promise<boolean>;
  /**
   * Whether the rotation of the token `presentedHash` found at `rotatedAt` was one whose answer never
   * came (a connection lost after COMMIT was sent), by refreshInOneStatement, rotateRefreshToken or
   * redeemImportedRefreshToken (the imported token's hash), of this instance or another sharing the
   * store: its client got a 503 and never saw the successor, so a retry past the reuse grace is no
   * replay. Answered true once, on any instance, then never again. Optional: a store whose writes are
   * never left unanswered has none.
   */
  unansweredRotation?(presentedHash: string, rotatedAt: Date, now: Date): Promise<boolean>;
  /** The user's sessions not revoked, newest first (some may be past their lifetime: core judges). */
  listSessions(userId: string): Promise<Session[]>;
  /** Revokes one session (idempotent). */
  revokeSession(sessionId: string, reason: string, now: Date): Promise<void>;
  /** Revokes every live session of the user except `exceptSessionId`. Returns how many. */
  revokeUserSessions(
    userId: string,
    exceptSessionId: string | null,
    reason: string,
    now: Date,
  ): Promise<number>;
  /**
   * Deletes the sessions that ended (revoked, or past their absolute
   * lifetime) before `endedBefore`, with their refresh tokens, and any
   * rotated refresh tokens beyond a session's newest few. How long ended
   * sessions are kept is core's policy (SessionManager.pruneEnded): the
   * store only compares dates. Returns how many of each it deleted.
   */
  pruneSessions(endedBefore: Date): Promise<{ sessions: number; refreshTokens: number }>;

  // One-time tokens
  /**
   * Stores a token; any earlier token of the same user and purpose stops working.
   * Throws CodeHashInUseError, storing nothing, when `codeHash` belongs to a
   * token of another user or purpose (a 6-digit code can repeat): draw another code.
   *
   * With `unlessIssuedAfter`, the check and the replacement are one atomic step:
   * when the user's live token of this purpose was created after that date, nothing
   * is stored (stored: false), however many callers race (the mail throttle). A token
   * dated after the new one by more than the new one's distance from that date does not
   * count: a clock set back since dated it, and it would hold the mails back for the
   * whole jump (another instance's clock a little ahead still throttles).
   *
   * `mails` are the mails carrying the token: the store queues them in its
   * outbox (the backend's, core/ports/outbox.ts) with the token, both or
   * neither: a token is never stored without its mails, and no mail goes out
   * with a token that was not stored (a failure, the throttle). The mail
   * worker is woken once they are committed.
   *
   * With `unlessBannedAt`, nothing is stored (stored: false) when the user is banned at that date,
   * checked in the write as updateUser's `unlessBannedAt` is: a ban committed after the caller read
   * the user mails nothing. With `whileAddressIs`, likewise when the user's address is no longer
   * that one: an account moved to another address since the caller looked it up by the first is not
   * mailed at its former address (a link there is refused when followed anyway).
   */
  createOneTimeToken(
    token: OneTimeToken,
    mails?: readonly OutgoingMail[],
    options?: OneTimeTokenConditions,
  ): Promise<TokenWrite>;
  /**
   * Returns and deletes the token whose (link) hash is `hash`, in one step;
   * null if absent, of another purpose, or expired. A code hash never matches here. A live token
   * refused by `conditions` stays (see SpendConditions).
   */
  consumeOneTimeToken(
    hash: string,
    purpose: string,
    now: Date,
    conditions?: SpendConditions,
  ): Promise<OneTimeToken | null>;
  /**
   * A code typed for `recipient`: returns and deletes the token of that recipient
   * whose (purpose, codeHash) is one of `candidates`, in one step; null if none,
   * or if it expired. A miss counts one failed attempt against every live code of
   * the recipient and the candidates' purposes, and the one reaching `maxFailures`
   * retires that code (its codeHash is gone). Its link lives on: killing it too let
   * anyone who knows an address spend its owner's recovery and sign-in links with a
   * few wrong codes, each mail again. Counting is atomic, so racing guesses get
   * `maxFailures` misses in all, never more. A hit refused by the attempt's `conditions` is
   * no miss: the code stays, uncounted (see SpendConditions).
   */
  consumeOneTimeCode(attempt: CodeAttempt): Promise<OneTimeToken | null>;
  /** The user's live token of this purpose, if any (to tell "already sent" from "never sent"); not consumed. */
  findOneTimeToken(userId: string, purpose: string, now: Date): Promise<OneTimeToken | null>;

  // Audit log
  recordAuditEvent(event: AuditEvent): Promise<void>;
  /** Newest first; `userId` narrows to the events concerning one user. */
  listAuditEvents(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage>;
  /** Deletes the events older than `before` (retention). Returns how many. */
  pruneAuditEvents(before: Date): Promise<number>;

  /**
   * Resolves when a write is expected to succeed now, else rejects with the answer every write
   * would get (503 for a database out of reach, 507 for storage full or read-only). Asked before an
   * answer that promises work done after it (a recovery mail), the same way for every address, so
   * that answer neither lies while nothing can be stored nor tells addresses apart.
   */
  assertWritable(): Promise<void>;

  /** Releases resources (file locks, connection pools). */
  close(): Promise<void>;
}
