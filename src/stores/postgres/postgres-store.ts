import { createHash } from 'node:crypto';
import type pg from 'pg';
import { assertNotBanned } from '../../core/banned.js';
import { AuthError, type ErrorCode } from '../../core/errors.js';
import { loginKey } from '../../core/identity.js';
import { hashSecret } from '../../core/secrets.js';
import type { OutgoingMail } from '../../core/ports/outbox.js';
import type { GuessProbe, GuessStanding, KnownClientRecord } from '../../core/ports/rate-limits.js';
import { openWindow, rateLimitTable } from './rate-limits.js';
import {
  CodeHashInUseError,
  type AuditEvent,
  type CodeAttempt,
  type SignUpWrites,
  type TokenWrite,
  type AuditPage,
  type Identity,
  type NewIdentity,
  type NewSession,
  type NewUser,
  type MfaFactor,
  type MfaFactorChange,
  type FoundRefreshToken,
  type OneStatementRefresh,
  type OneTimeToken,
  type OneTimeTokenConditions,
  type Session,
  type Store,
  type TokenStanding,
  type User,
  type UserPage,
  type UserPatch,
  UserDataChangedError,
  type UserUpdateConditions,
} from '../../core/ports/store.js';
import { findGoTrueRefreshToken, redeemGoTrueRefreshToken } from './gotrue-tokens.js';
import { emailIdentityData, quotedNames, type SchemaNames } from './migrations.js';
import { insertMailsSql, outboxTable } from './outbox.js';
import {
  deleteFactor,
  factorsLateral,
  factorsOfColumn,
  listFactors,
  updateFactor,
} from './gotrue-mfa-factors.js';
import { refreshInOneStatementSql, refreshTokenLookupSql } from './refresh-exchange.js';
import { RefreshBatcher, type RefreshEntry } from './refresh-batch.js';
import { UnansweredRefreshes } from './unanswered-refreshes.js';
import { refreshBatchSql } from './refresh-batch-sql.js';
import { tokenStandingSql, toTokenStanding, type TokenStandingRow } from './token-standing.js';
import { inTransaction } from './pool.js';
import { syncProvidersSql } from './providers-sql.js';
import { checkRoleName, createUserRole, dropUserRole, type RoleNames } from './user-roles.js';
import { pruneSessions } from './upkeep.js';
import { nameSkeletonColumns, refuseLookalike } from './name-skeletons.js';
import { gotrueTokenType, oneTimeTokenTables } from './gotrue-one-time-tokens.js';
import {
  ENDED_SESSION_AMR,
  ENDED_SESSION_COLUMNS,
  LIVE_SESSION_COLUMNS,
  liveSessionAmr,
  endSessionsClauses,
  NO_TIME_BOX,
  REFRESHED_AT,
  insertSessionSql,
  knownClientClause,
  noVerifiedFactor,
  sessionTables,
  SERVER_KEY_CHAIN,
  type SessionTables,
} from './session-sql.js';
import { openSessionCallSql, openSignInCallSql } from './open-sign-in.js';
import { jsonObject, rowDate, unsetTime, type RowTimestamp } from './row-values.js';

interface UserRow {
  id: string;
  username: string | null;
  email: string | null;
  email_confirmed_at: RowTimestamp;
  role: string | null;
  token_count: number;
  profile: unknown;
  app_metadata: unknown;
  created_at: RowTimestamp;
  updated_at: RowTimestamp;
  last_sign_in_at: RowTimestamp;
  banned_until: RowTimestamp;
  is_anonymous: boolean;
  aud: string | null;
  invited_at: RowTimestamp;
}

interface IdentityRow {
  id: string;
  user_id: string;
  provider: string;
  provider_id: string;
  identity_data: unknown;
  email: string | null;
  last_sign_in_at: RowTimestamp;
  created_at: RowTimestamp;
  updated_at: RowTimestamp;
}

interface SessionRow {
  id: string;
  user_id: string;
  created_at: RowTimestamp;
  refreshed_at: RowTimestamp;
  not_after: RowTimestamp;
  revoked_at: RowTimestamp;
  revoked_reason: string | null;
  refresh_secret: string;
  /** restauth.session_secrets.chain (SESSION_SECRET_CHAIN or SERVER_KEY_CHAIN). */
  chain: number;
  /** liveSessionAmr's JSON: dates as strings. */
  amr: { method: string; at: string }[];
}

interface OneTimeTokenRow {
  hash: string;
  code_hash: string | null;
  recipient: string | null;
  user_id: string;
  purpose: string;
  created_at: Date;
  expires_at: Date;
  data: Record<string, unknown>;
}

interface AuditRow {
  id: string;
  at: Date;
  action: string;
  actor_id: string | null;
  user_id: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

/**
 * A user is a row of GoTrue's `auth.users` `u` (migration 14: its uuid id is the user's id) and its
 * account `a` in restauth's schema (the user name, the token count, and the integer `id` the other
 * tables reference), joined on `a.uid = u.id`. Sessions, refresh tokens and one-time tokens name
 * their user by GoTrue's uuid (migrations 17 and 21). GoTrue's `role` is the token's role claim: the
 * authenticated role there is restauth's "no role of its own" (null).
 */
function userColumns(authenticatedLiteral: string): string {
  return `u.id::text AS id, a.username, u.email, u.email_confirmed_at,
    nullif(u.role, ${authenticatedLiteral}) AS role, a.token_count,
    coalesce(u.raw_user_meta_data, '{}') AS profile, coalesce(u.raw_app_meta_data, '{}') AS app_metadata,
    u.created_at, u.updated_at, u.last_sign_in_at, u.banned_until, u.is_anonymous, u.aud, u.invited_at`;
}
/** An identity row `i`, as GoTrue keeps it (email: its generated column). */
const IDENTITY_COLUMNS = `i.id::text AS id, i.user_id::text AS user_id, i.provider, i.provider_id, i.identity_data,
  i.email, i.last_sign_in_at, i.created_at, i.updated_at`;
/** A one-time token `t` of restauth.code_tokens. */
const ONE_TIME_TOKEN_COLUMNS = `t.hash, t.code_hash, t.recipient, t.user_id::text AS user_id, t.purpose, t.created_at,
  t.expires_at, t.data`;
/**
 * Users an address or a login key finds, as GoTrue's FindUserByEmailAndAudience (`instance_id = nil
 * AND aud = ? AND is_sso_user = false`): an SSO user's address is its identity provider's
 * (users_email_partial_key lets a password user hold it too); a soft-deleted user (deleted_at set) no
 * longer exists for sign-in, recovery or links; a user of another GoTrue instance (instance_id not the
 * nil uuid) is another server's; and with jwt.audience set (`audience`), a user of another aud is
 * another application's, whose tokens would say its own audience, which restauth refuses: found, it
 * signed in (200) to tokens nothing took (403), where GoTrue answers 400 invalid_credentials. A row
 * written without instance_id or aud (NULL) is restauth's own. Without jwt.audience restauth serves
 * every audience, as GoTrue serves each its X-JWT-AUD header names.
 */
function findableUsers(audience: string | undefined): string {
  return `NOT u.is_sso_user AND u.deleted_at IS NULL AND ${OWN_INSTANCE}${ofAudience(audience)}`;
}
/**
 * Users of restauth's own GoTrue instance, as GoTrue's FindUserByID asks (`instance_id = uuid.Nil`):
 * a user of another instance of an older multi-instance GoTrue is not found by id either, so its
 * sessions neither refresh nor pass GET /user, and the admin API neither lists nor shows it.
 */
const OWN_INSTANCE = `(u.instance_id IS NULL OR u.instance_id = '00000000-0000-0000-0000-000000000000')`;
/** With jwt.audience set, users of that aud (or none): GoTrue's admin list asks `aud = ?` as well. */
function ofAudience(audience: string | undefined): string {
  return audience === undefined ? '' : ` AND (u.aud IS NULL OR u.aud = '${audience.replaceAll("'", "''")}')`;
}
const AUDIT_COLUMNS = `id, at, action, actor_id, user_id, ip, data`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A user id as the uid column takes it, or null: anything but a UUID names nobody, and must not reach
 * the query, where casting it to uuid would be an SQL error (a 500) instead of "not found".
 */
function userUid(id: string): string | null {
  return UUID.test(id) ? id : null;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    role: row.role,
    tokenVersion: row.token_count,
    profile: jsonObject(row.profile),
    appMetadata: jsonObject(row.app_metadata),
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    updatedAt: rowDate(row.updated_at) ?? unsetTime(),
    emailConfirmedAt: rowDate(row.email_confirmed_at),
    lastSignInAt: rowDate(row.last_sign_in_at),
    bannedUntil: rowDate(row.banned_until),
    isAnonymous: row.is_anonymous,
    aud: row.aud,
    invitedAt: rowDate(row.invited_at),
  };
}

function toIdentity(row: IdentityRow): Identity {
  return {
    id: row.id,
    userId: row.user_id,
    provider: row.provider,
    providerId: row.provider_id,
    identityData: jsonObject(row.identity_data),
    email: row.email,
    lastSignInAt: rowDate(row.last_sign_in_at),
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    updatedAt: rowDate(row.updated_at) ?? unsetTime(),
  };
}

function toOneTimeToken(row: OneTimeTokenRow): OneTimeToken {
  return {
    hash: row.hash,
    codeHash: row.code_hash,
    recipient: row.recipient,
    userId: row.user_id,
    purpose: row.purpose,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    data: row.data,
  };
}

function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    at: row.at,
    action: row.action,
    actorId: row.actor_id,
    userId: row.user_id,
    ip: row.ip,
    data: row.data,
  };
}

/** A row of refreshTokenLookupSql: the token, its session's columns, its user as JSON. */
type FoundTokenRow = SessionRow & {
  hash: string;
  token_created_at: RowTimestamp;
  rotated_at: RowTimestamp;
  user_row: UserRow | null;
  mfa_guarded: boolean;
  /** The refresh statements' (refreshedIdentitiesOf); the lookup has none. */
  identities?: RefreshedIdentityJson[];
};

/** An identity as refreshedIdentitiesOf gives it: IdentityRow in JSON, its user the found row's. */
type RefreshedIdentityJson = Omit<
  IdentityRow,
  'user_id' | 'last_sign_in_at' | 'created_at' | 'updated_at'
> & {
  last_sign_in_at: string | null;
  created_at: string | null;
  updated_at: string | null;
};

function toFoundToken(row: FoundTokenRow): FoundRefreshToken {
  const userId = row.user_id;
  return {
    token: {
      hash: row.hash,
      sessionId: row.id,
      createdAt: rowDate(row.token_created_at) ?? unsetTime(),
      rotatedAt: rowDate(row.rotated_at),
    },
    session: toSession(row),
    // From to_jsonb: its timestamps are strings, which toUser reads as the columns.
    user: row.user_row ? toUser(row.user_row) : null,
    userHasVerifiedFactor: row.mfa_guarded,
    identities: row.identities?.map((identity) =>
      toIdentity({
        ...identity,
        user_id: userId,
        last_sign_in_at: rowDate(identity.last_sign_in_at),
        created_at: rowDate(identity.created_at),
        updated_at: rowDate(identity.updated_at),
      }),
    ),
  };
}

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    refreshedAt: rowDate(row.refreshed_at) ?? unsetTime(),
    // Never NULL (coalesced to NO_TIME_BOX); 'infinity' a DBA may write reads as the last date.
    notAfter: rowDate(row.not_after) ?? unsetTime(),
    revokedAt: rowDate(row.revoked_at),
    revokedReason: row.revoked_reason,
    refreshSecret: row.refresh_secret,
    chain: row.chain === SERVER_KEY_CHAIN ? 'server-key' : 'session-secret',
    amr: row.amr.map((claim) => ({ method: claim.method, at: rowDate(claim.at) ?? unsetTime() })),
  };
}

/** Unique violations become the registry's codes. */
function conflict(error: unknown): never {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError.code === '23505') {
    throw new AuthError(pgError.constraint?.includes('email') ? 'email_exists' : 'user_already_exists');
  }
  throw error;
}

/**
 * The Store on PostgreSQL. Every single-use step is one statement (a
 * conditional UPDATE or a DELETE ... RETURNING), so racing instances rotate a
 * refresh token once and consume a one-time token once.
 */
/** GoTrue's words (user.go) for a password change of a user with MFA by a session below aal2. */
const PASSWORD_NEEDS_AAL2 = 'AAL2 session is required to update email or password when MFA is enabled.';

export class PostgresStore implements Store {
  /** Its rate-limit table is the guess limit's counters: a session writes its known client itself. */
  readonly recordsKnownClients = true;
  private readonly users: string;
  /** GoTrue's sessions and refresh tokens, and restauth's part of them (session-sql.ts). */
  private readonly session: SessionTables;
  /** restauth's one-time tokens, and GoTrue's table that shows them (gotrue-one-time-tokens.ts). */
  private readonly oneTimeTokens: ReturnType<typeof oneTimeTokenTables>;
  private readonly auditLog: string;
  /** The shared rate-limit windows: a password sign-in reads and writes the account's guess limit there. */
  private readonly rateLimits: string;
  private readonly userRoles: string;
  private readonly mailOutbox: string;
  private readonly roleNames: RoleNames;
  private readonly names: ReturnType<typeof quotedNames>;
  private readonly accounts: string;
  private readonly identities: string;
  /** GoTrue's users `u` joined with their accounts `a`. */
  private readonly userFrom: string;
  private readonly userColumns: string;
  /** userFrom of restauth's own instance only (OWN_INSTANCE): the users an id finds. */
  private readonly ownUserFrom: string;
  /**
   * ownUserFrom without soft-deleted users: whom an access token or a refresh signs in. Migration 56's
   * trigger ends a soft-deleted user's sessions, but a write with session_replication_role = replica
   * (pg_restore, logical replication's apply) fires no trigger; read on the user row these statements
   * read anyway, deleted_at costs no round trip.
   */
  private readonly signedInUserFrom: string;
  /** The condition on `u` of the users the admin list shows: own instance and, if set, jwt.audience. */
  private readonly listedUsers: string;
  /** The condition on `u` of the users an address or login key finds (findableUsers). */
  private readonly findableUsers: string;
  private readonly statementNames = new Map<string, string>();
  private readonly statementTexts = new Map<string, string>();
  /** Refreshes asked for in one turn of the event loop, sent as one statement (refresh-batch.ts). */
  private readonly refreshes = new RefreshBatcher(
    (entries) => this.refreshBatch(entries),
    (entry) => this.refreshAlone(entry),
  );
  /** Refreshes that failed unanswered, whose rotation a retry may find committed (unanswered-refreshes.ts). */
  private readonly unanswered = new UnansweredRefreshes();
  /**
   * Rotations core derived the successor of (a session of chain 1, a GoTrue-made token) that failed
   * unanswered: kept apart from `unanswered`, whose lookup of the server-key successor would find
   * none and forget them.
   */
  private readonly unansweredRotations = new UnansweredRefreshes();

  constructor(
    private readonly pool: pg.Pool,
    schemaNames: SchemaNames,
    private readonly options: {
      preparedStatements: boolean;
      /** GoTrue's aud of the users it creates: the access tokens' audience (jwt.audience; default authenticated). */
      audience?: string;
      /** Called after a commit that queued mails (the backend's outbox wakes its worker). */
      mailsQueued?: () => void;
    },
  ) {
    this.names = quotedNames(schemaNames);
    const { schema, restauth } = this.names;
    this.users = `${schema}.users`;
    this.accounts = `${restauth}.accounts`;
    this.identities = `${schema}.identities`;
    this.userFrom = `${this.users} u JOIN ${this.accounts} a ON a.uid = u.id`;
    // Conditions added to the join's ON: every statement that reads `userFrom` takes them unchanged.
    this.ownUserFrom = `${this.userFrom} AND ${OWN_INSTANCE}`;
    this.signedInUserFrom = `${this.ownUserFrom} AND u.deleted_at IS NULL`;
    this.listedUsers = `${OWN_INSTANCE}${ofAudience(options.audience)}`;
    this.userColumns = userColumns(this.names.authenticatedLiteral);
    this.findableUsers = findableUsers(options.audience);
    this.session = sessionTables(this.names);
    this.oneTimeTokens = oneTimeTokenTables(this.names);
    // GoTrue has no table for these: they live in restauth's schema (migration 16).
    this.auditLog = `${restauth}.audit_log`;
    this.rateLimits = rateLimitTable(schemaNames);
    this.userRoles = `${restauth}.user_roles`;
    this.mailOutbox = outboxTable(schemaNames);
    this.roleNames = {
      table: this.userRoles,
      memberOf: [this.names.authenticated, this.names.anon],
      authenticator: this.names.authenticator,
    };
  }

  async createUser(input: NewUser, passwordHash: string | null, writes: SignUpWrites = {}): Promise<User> {
    if (input.role !== null) checkRoleName(input.role);
    const mails = writes.mails ?? [];
    const skeletons = nameSkeletonColumns(input.username);
    const user = await inTransaction(this.pool, async (client) => {
      if (input.username !== null) await refuseLookalike(client, this.accounts, input.username, null);
      // One statement: the account's foreign key is checked at its end, when the user row is there.
      // GoTrue's legacy token columns hold '' when unset (its Go models read them as strings).
      const { rows } = await client
        .query<UserRow & { user_key: number }>(
          `WITH u AS (
             INSERT INTO ${this.users} (instance_id, id, aud, role, email, email_confirmed_at, raw_user_meta_data,
               raw_app_meta_data, encrypted_password, created_at, updated_at, confirmation_token, recovery_token,
               email_change_token_new, email_change, is_anonymous, last_sign_in_at, banned_until)
             VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $10,
               coalesce($4, ${this.names.authenticatedLiteral}), $2, $3, $5, $6, $7, now(), now(), '', '', '', '', $9,
               CASE WHEN $13 THEN now() END, $14)
             RETURNING *
           ), a AS (
             INSERT INTO ${this.accounts}
               (uid, username, username_lowercase, username_skeleton, username_lookalike, username_skeleton_of,
                username_skeleton_rule)
               SELECT id, $1, $8, $12, $15, $1, $16 FROM u RETURNING *
           ), i AS (
             INSERT INTO ${this.identities} (provider_id, user_id, identity_data, provider, created_at, updated_at)
             SELECT u.id::text, u.id, ${emailIdentityData('u')}, 'email', u.created_at, u.updated_at
             FROM u WHERE u.email IS NOT NULL AND $11
           )
           SELECT a.id AS user_key, ${this.userColumns} FROM u JOIN a ON a.uid = u.id`,
          [
            input.username,
            input.email === null ? null : loginKey(input.email),
            input.emailConfirmedAt,
            input.role,
            input.profile,
            input.appMetadata,
            passwordHash,
            // Normalised here, not by SQL's lower(), whose folding depends on the database's locale.
            input.username === null ? null : loginKey(input.username),
            input.isAnonymous === true,
            this.options.audience ?? 'authenticated',
            // A provider's sign-up has only the provider's identity, as GoTrue's.
            input.emailIdentity !== false,
            // Unique: a look-alike of another user's name is refused as that name is (migration 37).
            skeletons.username_skeleton,
            input.signedIn === true,
            input.bannedUntil ?? null,
            skeletons.username_lookalike,
            skeletons.username_skeleton_rule,
          ],
        )
        .catch(conflict);
      if (input.role !== null) await createUserRole(client, this.roleNames, input.role, rows[0]!.user_key);
      if (writes.identity) await this.insertIdentity(client, rows[0]!.id, writes.identity);
      const session = writes.session;
      if (session) {
        await client.query(insertSessionSql(this.session, this.users, this.rateLimits), [
          session.id,
          rows[0]!.id,
          session.createdAt,
          session.notAfter,
          session.refreshSecret,
          session.firstRefreshTokenHash,
          session.authMethod ?? null,
          writes.knownClient?.prefix ?? null,
          writes.knownClient?.until ?? null,
        ]);
      }
      if (mails.length > 0) {
        // Due now by the mail worker's clock (the wall clock).
        await client.query(insertMailsSql(this.mailOutbox, '$1', '$2'), [JSON.stringify(mails), new Date()]);
      }
      return toUser(rows[0]!);
    });
    if (mails.length > 0) this.options.mailsQueued?.();
    return user;
  }

  /** A new user's provider identity (SignUpWrites.identity), in its sign-up's transaction. */
  private async insertIdentity(
    client: pg.PoolClient,
    uid: string,
    identity: Omit<NewIdentity, 'userId'>,
  ): Promise<void> {
    await client
      .query(
        `INSERT INTO ${this.identities}
           (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
         VALUES ($3, $1, $4, $2, $5, $5, $5)`,
        [uid, identity.provider, identity.providerId, identity.identityData, identity.now],
      )
      .catch((error: unknown) => {
        // A racing callback's sign-up linked it first: this one's account goes with the transaction.
        if ((error as { code?: string }).code === '23505') throw new AuthError('identity_already_exists');
        throw error;
      });
    await this.syncProviders(client, uid);
  }

  async findUserById(id: string, options: { signingIn?: boolean } = {}): Promise<User | null> {
    const from = options.signingIn === true ? this.signedInUserFrom : this.ownUserFrom;
    // Access tokens issued before migration 6 carry the serial id as their sub and stay valid until
    // they expire (an hour by default): here, where a token's sub is looked up, an all-digits id still
    // names the user by its serial id. The user found carries its uid, which every later step uses.
    if (/^[0-9]{1,9}$/.test(id)) {
      return this.oneUser(`SELECT ${this.userColumns} FROM ${from} WHERE a.id = $1`, [Number(id)]);
    }
    const uid = userUid(id);
    if (uid === null) return null;
    return this.oneUser(`SELECT ${this.userColumns} FROM ${from} WHERE u.id = $1`, [uid]);
  }

  async findUserWithFactors(id: string): Promise<{ user: User; factors: MfaFactor[] } | null> {
    // Found as findUserById finds a signed-in user (a serial id too), the factors in the same statement.
    const bySerial = /^[0-9]{1,9}$/.test(id);
    const key = bySerial ? Number(id) : userUid(id);
    if (key === null) return null;
    const { rows } = await this.pool.query<UserRow & { factors: unknown }>(
      this.prepared(
        `SELECT ${this.userColumns}, factors.factors FROM ${this.signedInUserFrom}
         ${factorsLateral(this.session.factors)}
         WHERE ${bySerial ? 'a.id' : 'u.id'} = $1`,
        [key],
      ),
    );
    const row = rows[0];
    return row ? { user: toUser(row), factors: factorsOfColumn(row.factors) } : null;
  }

  async findUserByUsername(username: string): Promise<User | null> {
    return this.oneUser(
      `SELECT ${this.userColumns} FROM ${this.userFrom} WHERE a.username_lowercase = $1 AND ${this.findableUsers}`,
      [loginKey(username)],
    );
  }

  async findUserByEmail(email: string): Promise<User | null> {
    return this.oneUser(
      `SELECT ${this.userColumns} FROM ${this.userFrom} WHERE u.email = $1 AND ${this.findableUsers}`,
      [loginKey(email)],
    );
  }

  async listUsers(options: { page: number; perPage: number; newestFirst?: boolean }): Promise<UserPage> {
    const offset = (Math.max(options.page, 1) - 1) * options.perPage;
    const [page, count] = await Promise.all([
      // By the account's serial key: creation order.
      this.pool.query<UserRow>(
        `SELECT ${this.userColumns} FROM ${this.userFrom} WHERE ${this.listedUsers}
         ORDER BY a.id ${options.newestFirst ? 'DESC' : 'ASC'} LIMIT $1 OFFSET $2`,
        [options.perPage, offset],
      ),
      this.pool.query<{ total: number }>(
        `SELECT count(*)::int AS total FROM ${this.users} u WHERE ${this.listedUsers}`,
      ),
    ]);
    return { users: page.rows.map(toUser), total: count.rows[0]!.total };
  }

  async updateUser(id: string, patch: UserPatch, condition: UserUpdateConditions = {}): Promise<User> {
    const uid = userUid(id);
    // The user name is the account's; everything else GoTrue's row: one statement updates both.
    const userSets: string[] = ['updated_at = now()'];
    const accountSets: string[] = [];
    const values: unknown[] = [uid];
    const set = (sets: string[], column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (patch.username !== undefined) {
      set(accountSets, 'username', patch.username);
      set(accountSets, 'username_lowercase', patch.username === null ? null : loginKey(patch.username));
      for (const [column, value] of Object.entries(nameSkeletonColumns(patch.username)))
        set(accountSets, column, value);
    }
    if (patch.email !== undefined)
      set(userSets, 'email', patch.email === null ? null : loginKey(patch.email));
    if (patch.emailConfirmedAt !== undefined) set(userSets, 'email_confirmed_at', patch.emailConfirmedAt);
    if (patch.profile !== undefined) set(userSets, 'raw_user_meta_data', patch.profile);
    if (patch.appMetadata !== undefined) set(userSets, 'raw_app_meta_data', patch.appMetadata);
    if (patch.lastSignInAt !== undefined) set(userSets, 'last_sign_in_at', patch.lastSignInAt);
    if (patch.bannedUntil !== undefined) set(userSets, 'banned_until', patch.bannedUntil);
    if (patch.isAnonymous !== undefined) set(userSets, 'is_anonymous', patch.isAnonymous);
    if (patch.invitedAt !== undefined) set(userSets, 'invited_at', patch.invitedAt);
    // The ban is read on the row the UPDATE locks: a ban committed meanwhile is seen (READ COMMITTED
    // re-reads a row it waited for), and the account's row changes only with the user's.
    // Of restauth's own instance, as findUserById finds users: another instance's user is not written.
    let userWhere = `u.id = $1 AND ${OWN_INSTANCE}`;
    if (condition.unlessBannedAt) {
      values.push(condition.unlessBannedAt);
      userWhere += ` AND (banned_until IS NULL OR banned_until <= $${values.length})`;
    }
    // Compared as findUserById reads them (userColumns); JSON text, so that a JSON null is jsonb's null.
    const dataConditions: [string, Record<string, unknown> | undefined][] = [
      [`coalesce(raw_user_meta_data, '{}')`, condition.whileProfileIs],
      [`coalesce(raw_app_meta_data, '{}')`, condition.whileAppMetadataIs],
    ];
    for (const [column, read] of dataConditions) {
      if (read === undefined) continue;
      values.push(JSON.stringify(read));
      userWhere += ` AND ${column} = $${values.length}::jsonb`;
    }
    // The account's row changes only with the user's: not when a condition, or the instance, refused it.
    const account =
      accountSets.length === 0
        ? `SELECT * FROM ${this.accounts} WHERE uid = $1`
        : `UPDATE ${this.accounts} SET ${accountSets.join(', ')} WHERE uid = $1 AND uid IN (SELECT id FROM u) RETURNING *`;
    // GoTrue's email identity follows the address: an address set writes it (GoTrue's email change
    // creates one a user lacks) or merges it, an address removed takes it; a confirmation alone merges
    // an existing one and creates none (an OAuth user confirming its address has only its provider's).
    const identity =
      patch.email !== undefined && (patch.email === null || patch.emailIdentity !== false)
        ? `, i AS (
             INSERT INTO ${this.identities} AS i (provider_id, user_id, identity_data, provider, created_at, updated_at)
             SELECT u.id::text, u.id, ${emailIdentityData('u')}, 'email', u.updated_at, u.updated_at
             FROM u WHERE u.email IS NOT NULL
             ON CONFLICT (provider_id, provider) DO UPDATE
               SET identity_data = i.identity_data || EXCLUDED.identity_data, updated_at = EXCLUDED.updated_at
           ), gone AS (
             DELETE FROM ${this.identities} i USING u WHERE i.user_id = u.id AND i.provider = 'email' AND u.email IS NULL
           )`
        : patch.email !== undefined || patch.emailConfirmedAt !== undefined
          ? `, i AS (
             UPDATE ${this.identities} i
               SET identity_data = i.identity_data || ${emailIdentityData('u')}, updated_at = u.updated_at
             FROM u WHERE i.provider_id = u.id::text AND i.provider = 'email' AND u.email IS NOT NULL
           )`
          : '';
    let known = '';
    if (condition.knownClient) {
      values.push(condition.knownClient.key, condition.knownClient.until);
      const [key, until] = [values.length - 1, values.length];
      known = `, ${knownClientClause(this.rateLimits, `SELECT $${key}::text, $${until}::timestamptz, 1 FROM u`)}`;
    }
    const sql = `WITH u AS (UPDATE ${this.users} u SET ${userSets.join(', ')} WHERE ${userWhere} RETURNING *), a AS (${account})
             ${identity}${known}
             SELECT ${this.userColumns} FROM u JOIN a ON a.uid = u.id`;
    // Its providers follow its identities (an address set, removed or confirmed), unless the patch sets
    // app_metadata itself: after the statement, which holds the user's row (see syncProvidersSql).
    const syncsProviders = identity !== '' && patch.appMetadata === undefined;
    // A new name is checked against look-alikes no unique index holds, in the write's transaction.
    const name = typeof patch.username === 'string' ? patch.username : null;
    const user =
      uid === null
        ? null
        : !syncsProviders && name === null
          ? await this.oneUser(sql, values)
          : await inTransaction(this.pool, async (client) => {
              if (name !== null) await refuseLookalike(client, this.accounts, name, uid);
              const { rows } = await client.query<UserRow>(this.prepared(sql, values)).catch(conflict);
              if (!rows[0]) return null;
              if (!syncsProviders) return toUser(rows[0]);
              return { ...toUser(rows[0]), appMetadata: await this.syncProviders(client, uid) };
            });
    if (!user) await this.updateRefusal(id, condition);
    return user!;
  }

  /** Why updateUser's conditional write wrote nothing: gone, banned, or its data read changed since. */
  private async updateRefusal(id: string, condition: UserUpdateConditions): Promise<never> {
    const dataConditioned =
      condition.whileProfileIs !== undefined || condition.whileAppMetadataIs !== undefined;
    return this.refusal(
      id,
      condition.unlessBannedAt ?? null,
      dataConditioned ? new UserDataChangedError() : 'user_not_found',
    );
  }

  /**
   * Throws why a write conditional on its user wrote nothing: user_not_found when the user is gone,
   * user_banned when it is banned at `at` (null: not asked), else `otherwise`. Read after the refusal
   * only, which is rare: the write itself decided it.
   */
  private async refusal(id: string, at: Date | null, otherwise: ErrorCode | Error): Promise<never> {
    const user = await this.findUserById(id);
    if (user === null) throw new AuthError('user_not_found');
    if (at !== null) assertNotBanned(user, at);
    throw typeof otherwise === 'string' ? new AuthError(otherwise) : otherwise;
  }

  /**
   * Throws why a session-opening write (createSession, openSignIn) wrote nothing: refusal's answers,
   * and insufficient_aal for a user with a verified MFA factor (noVerifiedFactor).
   */
  private async sessionRefusal(id: string, at: Date): Promise<never> {
    const user = await this.findUserById(id);
    if (user === null) throw new AuthError('user_not_found');
    assertNotBanned(user, at);
    if (await this.hasVerifiedFactor(user.id)) throw new AuthError('insufficient_aal');
    throw new AuthError('user_not_found');
  }

  /** The user's providers set from its identities (see syncProvidersSql), in the caller's transaction: its app_metadata after. */
  private async syncProviders(client: pg.PoolClient, uid: string): Promise<Record<string, unknown>> {
    const { rows } = await client.query<{ app_metadata: Record<string, unknown> }>(
      this.prepared(
        `${syncProvidersSql(this.users, this.identities)} RETURNING u.raw_app_meta_data AS app_metadata`,
        [uid],
      ),
    );
    return rows[0]?.app_metadata ?? {};
  }

  async listMfaFactors(userId: string): Promise<MfaFactor[]> {
    const uid = userUid(userId);
    return uid === null ? [] : listFactors(this.pool, this.session.factors, uid);
  }

  async updateMfaFactor(
    userId: string,
    factorId: string,
    change: MfaFactorChange,
    now: Date,
  ): Promise<MfaFactor | null> {
    const uid = userUid(userId);
    if (uid === null || userUid(factorId) === null) return null;
    return updateFactor(this.pool, this.session.factors, uid, factorId, change, now);
  }

  async deleteMfaFactor(userId: string, factorId: string): Promise<MfaFactor | null> {
    const uid = userUid(userId);
    // Neither id a UUID names no factor: never cast in the query (an SQL error, a 500).
    if (uid === null || userUid(factorId) === null) return null;
    return deleteFactor(this.pool, this.session.factors, uid, factorId);
  }

  async deleteUser(id: string): Promise<boolean> {
    const uid = userUid(id);
    if (uid === null) return false;
    return inTransaction(this.pool, async (client) => {
      // Sessions, refresh tokens, one-time tokens and the role's ownership go with it (ON DELETE
      // CASCADE); audit events stay. The statement's snapshot still shows the ownership it cascades.
      const { rows } = await client.query<{ role: string | null }>(
        // Of restauth's own instance, as findUserById finds users: another instance's is not deleted.
        `WITH gone AS (DELETE FROM ${this.users} u WHERE u.id = $1 AND ${OWN_INSTANCE} RETURNING u.id)
         SELECT r.role FROM gone g LEFT JOIN ${this.accounts} a ON a.uid = g.id
           LEFT JOIN ${this.userRoles} r ON r.user_id = a.id`,
        [uid],
      );
      // Its own role goes too: else the next sign-up of that name would get it, grants and all.
      const role = rows[0]?.role;
      if (role) await dropUserRole(client, role);
      return rows.length === 1;
    });
  }

  async listIdentities(userId: string): Promise<Identity[]> {
    const uid = userUid(userId);
    if (uid === null) return [];
    const { rows } = await this.pool.query<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM ${this.identities} i WHERE i.user_id = $1 ORDER BY i.created_at, i.id`,
      [uid],
    );
    return rows.map(toIdentity);
  }

  async listIdentitiesOfUsers(userIds: readonly string[]): Promise<Map<string, Identity[]>> {
    const listed = new Map<string, Identity[]>(userIds.map((userId) => [userId, []]));
    // Only UUIDs reach the uuid[] cast (see userUid); the others have none.
    const uids = userIds.filter((userId) => userUid(userId) !== null);
    if (uids.length === 0) return listed;
    const { rows } = await this.pool.query<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM ${this.identities} i WHERE i.user_id = ANY($1::uuid[])
       ORDER BY i.created_at, i.id`,
      [uids],
    );
    for (const row of rows) listed.get(row.user_id)?.push(toIdentity(row));
    return listed;
  }

  async findIdentity(provider: string, providerId: string): Promise<Identity | null> {
    const { rows } = await this.pool.query<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM ${this.identities} i WHERE i.provider = $1 AND i.provider_id = $2`,
      [provider, providerId],
    );
    return rows[0] ? toIdentity(rows[0]) : null;
  }

  async linkIdentity(identity: NewIdentity): Promise<Identity> {
    if (identity.provider === 'email')
      throw new AuthError('validation_failed', 'The email identity follows the address');
    const uid = userUid(identity.userId);
    if (uid === null) throw new AuthError('user_not_found');
    // One statement on the (provider_id, provider) unique key: a racing link of the same identity
    // waits for the first to commit, then takes the conflict path, which updates only the holder's own.
    // The user's row is taken first, as every identity write takes it, so its providers, set after in
    // the same transaction, see every identity (syncProvidersSql). A sign-in by a provider sets them
    // too, as GoTrue's.
    const linked = await inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<IdentityRow>(
        `INSERT INTO ${this.identities} AS i
           (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
         SELECT $3, u.id, $4, $2, $5, $5, $5 FROM ${this.users} u
         WHERE u.id = $1 AND ${OWN_INSTANCE} AND (u.banned_until IS NULL OR u.banned_until <= $5)
         FOR NO KEY UPDATE OF u
         ON CONFLICT (provider_id, provider) DO UPDATE
           SET identity_data = i.identity_data || EXCLUDED.identity_data,
             last_sign_in_at = EXCLUDED.last_sign_in_at, updated_at = EXCLUDED.updated_at
           WHERE i.user_id = EXCLUDED.user_id
         RETURNING ${IDENTITY_COLUMNS}`,
        [uid, identity.provider, identity.providerId, identity.identityData, identity.now],
      );
      if (rows[0]) await this.syncProviders(client, uid);
      return rows[0];
    });
    if (linked) return toIdentity(linked);
    // Nothing written: the user is missing or banned, or another user holds the identity.
    return this.refusal(uid, identity.now, 'identity_already_exists');
  }

  async unlinkIdentity(userId: string, identityId: string): Promise<void> {
    const uid = userUid(userId);
    if (uid === null || !UUID.test(identityId)) throw new AuthError('identity_not_found');
    await inTransaction(this.pool, async (client) => {
      // The user's row lock orders racing unlinks: two cannot each leave the other's identity as the last.
      const { rows } = await client.query<{ email: string | null }>(
        `SELECT u.email FROM ${this.users} u WHERE u.id = $1 AND ${OWN_INSTANCE} FOR UPDATE`,
        [uid],
      );
      const owned = await client.query<{ id: string; provider: string }>(
        `SELECT id::text AS id, provider FROM ${this.identities} WHERE user_id = $1`,
        [uid],
      );
      const target = owned.rows.find((row) => row.id === identityId.toLowerCase());
      if (!rows[0] || !target) throw new AuthError('identity_not_found');
      if (owned.rows.length <= 1) throw new AuthError('single_identity_not_deletable');
      if (target.provider === 'email' && rows[0].email !== null)
        throw new AuthError('email_conflict_identity_not_deletable');
      await client.query(`DELETE FROM ${this.identities} WHERE id = $1`, [target.id]);
      await this.syncProviders(client, uid);
    });
  }

  async keepOnlyIdentity(userId: string, keptIdentityId: string | null): Promise<void> {
    const uid = userUid(userId);
    const keptId = keptIdentityId?.toLowerCase() ?? null;
    if (uid === null || (keptId !== null && !UUID.test(keptId))) throw new AuthError('identity_not_found');
    await inTransaction(this.pool, async (client) => {
      // The user's row lock orders it with links, unlinks and address changes (see unlinkIdentity).
      const user = await client.query(
        `SELECT 1 FROM ${this.users} u WHERE u.id = $1 AND ${OWN_INSTANCE} FOR UPDATE`,
        [uid],
      );
      // No user of this instance: its identities are not this store's to remove (the file store's answer).
      if (user.rowCount === 0) {
        if (keptId !== null) throw new AuthError('identity_not_found');
        return;
      }
      if (keptId !== null) {
        const kept = await client.query(`SELECT 1 FROM ${this.identities} WHERE id = $1 AND user_id = $2`, [
          keptId,
          uid,
        ]);
        if (kept.rowCount === 0) throw new AuthError('identity_not_found');
      }
      await client.query(
        `DELETE FROM ${this.identities} WHERE user_id = $1 AND id IS DISTINCT FROM $2::uuid`,
        [uid, keptId],
      );
      await this.syncProviders(client, uid);
    });
  }

  async getPasswordHash(userId: string): Promise<string | null> {
    const uid = userUid(userId);
    if (uid === null) return null;
    const { rows } = await this.pool.query<{ password: string | null }>(
      `SELECT u.encrypted_password AS password FROM ${this.users} u WHERE u.id = $1 AND ${OWN_INSTANCE}`,
      [uid],
    );
    return rows[0]?.password ?? null;
  }

  async replacePasswordHash(
    userId: string,
    passwordHash: string,
    expectedHash: string | null,
  ): Promise<boolean> {
    const uid = userUid(userId);
    if (uid === null) return false;
    // A concurrent change holds the row: this UPDATE waits, re-reads it, and no longer matches.
    const result = await this.pool.query(
      `UPDATE ${this.users} u SET encrypted_password = $2, updated_at = now()
       WHERE u.id = $1 AND ${OWN_INSTANCE} AND u.encrypted_password IS NOT DISTINCT FROM $3`,
      [uid, passwordHash, expectedHash],
    );
    return result.rowCount === 1;
  }

  async changePassword(
    userId: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: Date,
    expectedHash?: string | null,
    options: { evenIfBanned?: boolean } = {},
  ): Promise<User> {
    const uid = userUid(userId);
    if (uid === null) throw new AuthError('user_not_found');
    return inTransaction(this.pool, async (client) => {
      // The user's row lock orders racing changes: the second waits here for the first to commit,
      // then (read committed: each statement sees what committed before it) finds its proof gone.
      // The ban is read under the lock too: one committed after the caller read the user is seen.
      const { rows } = await client.query<{
        user_key: number;
        password: string | null;
        banned_until: RowTimestamp;
        mfa_guarded: boolean;
      }>(
        `SELECT a.id AS user_key, u.encrypted_password AS password, u.banned_until,
           NOT ${noVerifiedFactor(this.session, 'u.id')} AS mfa_guarded
         FROM ${this.ownUserFrom} WHERE u.id = $1 FOR UPDATE`,
        [uid],
      );
      const locked = rows[0];
      if (!locked) throw new AuthError('user_not_found');
      if (options.evenIfBanned !== true) {
        assertNotBanned({ bannedUntil: rowDate(locked.banned_until) }, now);
        // GoTrue changes an MFA user's password only for an aal2 session, which restauth never has: a
        // mailbox (recovery) or the current password alone must not replace it.
        if (locked.mfa_guarded) throw new AuthError('insufficient_aal', PASSWORD_NEEDS_AAL2);
      }
      if (expectedHash !== undefined && locked.password !== expectedHash)
        throw new AuthError('invalid_credentials');
      if (keepSessionId !== null) {
        const kept = UUID.test(keepSessionId)
          ? await client.query(`SELECT 1 FROM ${this.session.sessions} WHERE id = $1 AND user_id = $2`, [
              keepSessionId,
              uid,
            ])
          : { rowCount: 0 };
        if (kept.rowCount !== 1) throw new AuthError('session_not_found');
      }
      // The new hash, the count and the revocations commit together. The count is bumped only when no
      // session is kept: a kept session's access token goes on working.
      const changed = await client.query<UserRow>(
        `WITH u AS (
           UPDATE ${this.users} SET encrypted_password = $2, updated_at = $4 WHERE id = $5 RETURNING *
         ), a AS (
           UPDATE ${this.accounts} SET token_count = token_count + CASE WHEN $3::text IS NULL THEN 1 ELSE 0 END
           WHERE id = $1 RETURNING *
         ), ${endSessionsClauses(this.session, 's.user_id = $5 AND s.id::text IS DISTINCT FROM $3', '$4::timestamptz', `'password_changed'`)}
         SELECT ${this.userColumns} FROM u JOIN a ON a.uid = u.id`,
        [locked.user_key, passwordHash, keepSessionId, now, uid],
      );
      return toUser(changed.rows[0]!);
    });
  }

  async findUserWithPasswordHash(
    key: string,
    byEmail: boolean,
    guesses?: GuessProbe | null,
  ): Promise<{ user: User | null; passwordHash: string | null; guesses?: GuessStanding } | null> {
    if (guesses) return this.findUserWithGuesses(key, byEmail, guesses);
    const { rows } = await this.pool
      .query<UserRow & { password_hash: string | null }>(
        this.prepared(
          this.statement(
            byEmail ? 'userWithPasswordHashByEmail' : 'userWithPasswordHashByName',
            () => `SELECT ${this.userColumns}, u.encrypted_password AS password_hash FROM ${this.userFrom}
           WHERE ${byEmail ? 'u.email' : 'a.username_lowercase'} = $1 AND ${this.findableUsers}`,
          ),
          [loginKey(key)],
        ),
      )
      .catch(conflict);
    const row = rows[0];
    return row ? { user: toUser(row), passwordHash: row.password_hash } : null;
  }

  /**
   * findUserWithPasswordHash with the account's wrong passwords in their open window (the shared
   * rate_limits row the guess limit counts them in) and, only once they are spent, whether the
   * asking client signed the account in lately: one statement, as without the limit. Always one
   * row: with no such user its columns are null and the count read is the login's own.
   */
  private async findUserWithGuesses(
    key: string,
    byEmail: boolean,
    guesses: GuessProbe,
  ): Promise<{ user: User | null; passwordHash: string | null; guesses: GuessStanding }> {
    type Row = UserRow & {
      password_hash: string | null;
      guess_failures: number | null;
      guess_reset_at: Date | null;
      known_client: boolean;
    };
    const { rows } = await this.pool
      .query<Row>(
        this.prepared(
          this.statement(
            byEmail ? 'userWithGuessesByEmail' : 'userWithGuessesByName',
            () => `SELECT ${this.userColumns}, u.encrypted_password AS password_hash,
             g.count AS guess_failures, g.reset_at AS guess_reset_at,
             CASE WHEN g.count >= $5 AND $6::text IS NOT NULL THEN EXISTS (
               SELECT 1 FROM ${this.rateLimits} k WHERE k.key = $6 || u.id::text AND k.reset_at > $3
             ) ELSE false END AS known_client
           FROM (SELECT) AS one
           LEFT JOIN (${this.userFrom})
             ON ${byEmail ? 'u.email' : 'a.username_lowercase'} = $1 AND ${this.findableUsers}
           LEFT JOIN ${this.rateLimits} g ON g.key = COALESCE($2 || u.id::text, $7)
             AND ${openWindow('g.reset_at', '$3', '$4')}`,
          ),
          [
            loginKey(key),
            guesses.failuresPrefix,
            guesses.now,
            guesses.windowMs,
            guesses.max,
            guesses.knownPrefix,
            guesses.unknownKey,
          ],
        ),
      )
      .catch(conflict);
    const row = rows[0]!;
    return {
      user: row.id === null ? null : toUser(row),
      passwordHash: row.password_hash,
      guesses: {
        failures: row.guess_failures ?? 0,
        resetAt: row.guess_reset_at,
        knownClient: row.known_client,
      },
    };
  }

  async openSignIn(input: {
    lastSignInAt: Date;
    session: NewSession;
    audit: AuditEvent | null;
    knownClient?: KnownClientRecord | null;
  }): Promise<{ user: User; session: Session }> {
    const { session, audit } = input;
    const uid = userUid(session.userId);
    if (uid === null) throw new AuthError('user_not_found');
    // One statement (migration 36): the writes, the cap and the event commit together.
    const { rows } = await this.pool.query<UserRow>(
      this.prepared(
        this.statement('openSignIn', () =>
          openSignInCallSql(
            this.names,
            { accounts: this.accounts, rateLimits: this.rateLimits },
            this.userColumns,
          ),
        ),
        [
          session.id,
          uid,
          session.createdAt,
          session.notAfter,
          session.refreshSecret,
          session.firstRefreshTokenHash,
          session.authMethod ?? null,
          input.lastSignInAt,
          audit?.id ?? null,
          audit?.at ?? null,
          audit?.action ?? null,
          audit?.actorId ?? null,
          audit?.userId ?? null,
          audit?.ip ?? null,
          audit?.data ?? null,
          Math.max(0, session.maxPerUser),
          input.knownClient?.key ?? null,
          input.knownClient?.until ?? null,
        ],
      ),
    );
    if (!rows[0]) return this.sessionRefusal(uid, session.createdAt);
    const user = toUser(rows[0]);
    return { user, session: this.opened(session, user.id) };
  }

  async createSession(session: NewSession, knownClient: KnownClientRecord | null = null): Promise<Session> {
    const values = [
      session.id,
      userUid(session.userId),
      session.createdAt,
      session.notAfter,
      session.refreshSecret,
      session.firstRefreshTokenHash,
      session.authMethod ?? null,
    ];
    // No such user (a non-UUID id included): nothing to write.
    if (values[1] === null) return this.sessionRefusal(session.userId, session.createdAt);
    // Every session is written as openSignIn writes its own (migrations 36 and 52): the user's row is
    // locked in a statement of its own, so the insert's snapshot sees a factor verified meanwhile
    // (test/gotrue/mfa-factor-verify-races.test.ts); the cap, when there is one, is the function's last
    // statement, whose snapshot sees the sessions of every racing sign-in before it, whatever path
    // opened them (test/security/session-cap-race.test.ts).
    const { rows } = await this.pool.query<{ user_id: string | null }>(
      this.prepared(
        this.statement('openSession', () => openSessionCallSql(this.names, this.rateLimits)),
        [...values, Math.max(session.maxPerUser, 0), knownClient?.key ?? null, knownClient?.until ?? null],
      ),
    );
    const userId = rows[0]?.user_id;
    if (!userId) return this.sessionRefusal(session.userId, session.createdAt);
    return this.opened(session, userId);
  }

  /** The Session a NewSession became, once written for the user `userId`. */
  private opened(session: NewSession, userId: string): Session {
    return {
      id: session.id,
      userId,
      createdAt: session.createdAt,
      refreshedAt: session.createdAt,
      notAfter: session.notAfter,
      revokedAt: null,
      revokedReason: null,
      refreshSecret: session.refreshSecret,
      chain: 'server-key',
      amr: session.authMethod === undefined ? [] : [{ method: session.authMethod, at: session.createdAt }],
    };
  }

  async listSessions(userId: string): Promise<Session[]> {
    const uid = userUid(userId);
    if (uid === null) return [];
    // Every row of auth.sessions is a session not ended (ended ones leave it).
    const { rows } = await this.pool.query<SessionRow>(
      `SELECT ${LIVE_SESSION_COLUMNS}, ${liveSessionAmr(this.session)} FROM ${this.session.sessions} s
       LEFT JOIN ${this.session.secrets} k ON k.session_id = s.id
       WHERE s.user_id = $1 ORDER BY s.created_at DESC`,
      [uid],
    );
    return rows.map(toSession);
  }

  async findSession(id: string): Promise<Session | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.pool.query<SessionRow>(
      this.prepared(
        this.statement(
          'findSession',
          () => `SELECT ${LIVE_SESSION_COLUMNS}, ${liveSessionAmr(this.session)} FROM ${this.session.sessions} s
         LEFT JOIN ${this.session.secrets} k ON k.session_id = s.id WHERE s.id = $1
         UNION ALL
         SELECT ${ENDED_SESSION_COLUMNS}, ${ENDED_SESSION_AMR} FROM ${this.session.ends} e WHERE e.id = $1`,
        ),
        [id],
      ),
    );
    return rows[0] ? toSession(rows[0]) : null;
  }

  async findTokenStanding(sessionId: string, userId: string): Promise<TokenStanding> {
    // Found as findSession and findUserById find them (token-standing.ts), in one round trip.
    const bySerial = /^[0-9]{1,9}$/.test(userId);
    const { rows } = await this.pool.query<TokenStandingRow>(
      this.prepared(
        this.statement(bySerial ? 'tokenStandingBySerial' : 'tokenStandingByUuid', () =>
          tokenStandingSql(this.session, this.signedInUserFrom, bySerial),
        ),
        [userUid(sessionId), bySerial ? Number(userId) : userUid(userId)],
      ),
    );
    return toTokenStanding(rows[0]!);
  }

  async findRefreshToken(hash: string): Promise<FoundRefreshToken | null> {
    // The user comes in the same query: a refresh needs it, and a round trip is a third of the work.
    const { rows } = await this.pool.query<FoundTokenRow>(
      this.prepared(
        this.statement('refreshTokenLookup', () =>
          refreshTokenLookupSql(this.session, this.userColumns, this.signedInUserFrom),
        ),
        [hash],
      ),
    );
    return rows[0] ? toFoundToken(rows[0]) : null;
  }

  async refreshInOneStatement(
    presentedHash: string,
    successorHash: string,
    now: Date,
    inactiveBefore: Date,
  ): Promise<OneStatementRefresh | null> {
    const entry = { presentedHash, successorHash, now, inactiveBefore };
    if (this.unanswered.holds(presentedHash)) {
      const own = await this.unanswered.answer(entry, (hash) => this.findRefreshToken(hash));
      if (own) return own;
    }
    return this.refreshes.refresh(entry).catch((error: unknown) => {
      this.unanswered.remember(entry);
      throw error;
    });
  }

  /** One refresh in a statement of its own, as refreshInOneStatement was before batching (the bench's before). */
  async refreshAlone(entry: RefreshEntry): Promise<OneStatementRefresh | null> {
    const { rows } = await this.pool.query<FoundTokenRow & { rotated: number }>(
      this.prepared(
        this.statement('refreshInOneStatement', () =>
          refreshInOneStatementSql(this.session, this.userColumns, this.signedInUserFrom),
        ),
        [entry.presentedHash, entry.successorHash, entry.now, entry.inactiveBefore],
      ),
    );
    return rows[0] ? { found: toFoundToken(rows[0]), rotated: rows[0].rotated === 1 } : null;
  }

  /** Several refreshes in one statement (refreshBatchSql): each entry's answer, null where it has no row. */
  private async refreshBatch(entries: RefreshEntry[]): Promise<(OneStatementRefresh | null)[]> {
    const { rows } = await this.pool.query<FoundTokenRow & { rotated: number; n: string }>(
      this.prepared(
        this.statement('refreshBatch', () =>
          refreshBatchSql(this.session, this.userColumns, this.signedInUserFrom),
        ),
        [
          entries.map((entry) => entry.presentedHash),
          entries.map((entry) => entry.successorHash),
          entries.map((entry) => entry.now),
          entries.map((entry) => entry.inactiveBefore),
        ],
      ),
    );
    const byEntry = new Map(rows.map((row) => [Number(row.n), row]));
    return entries.map((_, index) => {
      const row = byEntry.get(index + 1);
      return row ? { found: toFoundToken(row), rotated: row.rotated === 1 } : null;
    });
  }

  async rotateRefreshToken(presentedHash: string, successorHash: string, now: Date): Promise<boolean> {
    // The session's row is locked first, then the token's, the order in which ending a session takes
    // them (its DELETE, then the cascade to its tokens): taken the other way round, a refresh and a
    // sign-out of one session at once deadlocked. The conditional UPDATE is the token's lock: a racing
    // caller waits for it, re-checks revoked, and matches nothing. The session must still exist (an
    // ended one is gone). As GoTrue rotates: the presented row is revoked, its successor names it as
    // parent.
    const { rows } = await this.rememberedIfUnanswered(
      presentedHash,
      now,
      this.pool.query<{ rotated: number }>(
        this.prepared(
          this.statement(
            'rotateRefreshToken',
            () => `WITH live AS (
         SELECT t.id FROM ${this.session.refreshTokens} t JOIN ${this.session.sessions} s ON s.id = t.session_id
         WHERE t.token = $1 AND t.revoked IS NOT TRUE AND ${noVerifiedFactor(this.session, 's.user_id')}
         FOR NO KEY UPDATE OF s
       ), rotated AS (
         UPDATE ${this.session.refreshTokens} t SET revoked = true, updated_at = $3
         WHERE t.id IN (SELECT id FROM live) AND t.revoked IS NOT TRUE
         RETURNING t.session_id, t.user_id, t.instance_id
       ), touched AS (
         UPDATE ${this.session.sessions} SET refreshed_at = $3::timestamptz AT TIME ZONE 'UTC', updated_at = $3
         WHERE id IN (SELECT session_id FROM rotated)
       ), successor AS (
         INSERT INTO ${this.session.refreshTokens}
           (instance_id, token, user_id, revoked, parent, session_id, created_at, updated_at)
         SELECT instance_id, $2, user_id, false, $1, session_id, $3, $3 FROM rotated
         RETURNING 1
       )
       SELECT count(*)::int AS rotated FROM successor`,
          ),
          [presentedHash, successorHash, now],
        ),
      ),
    );
    return rows[0]!.rotated === 1;
  }

  /**
   * `write`'s outcome; when it fails, the rotation of `presentedHash` at `now` is remembered, for a
   * retry that finds it committed after all (unansweredRotation).
   */
  private rememberedIfUnanswered<T>(presentedHash: string, now: Date, write: Promise<T>): Promise<T> {
    return write.catch((error: unknown) => {
      this.unansweredRotations.remember({ presentedHash, now });
      throw error;
    });
  }

  unansweredRotation(presentedHash: string, rotatedAt: Date): boolean {
    return this.unansweredRotations.claim(presentedHash, rotatedAt);
  }

  /** GoTrue's own refresh tokens, in a database it made (gotrue-tokens.ts). */
  async findImportedRefreshToken(token: string): Promise<{
    session: Session;
    user: User | null;
    spentAt: Date | null;
    userHasVerifiedFactor: boolean;
  } | null> {
    const found = await findGoTrueRefreshToken(this.pool, this.session, token);
    const session = found && (await this.findSession(found.sessionId));
    if (!found || !session) return null;
    return {
      session,
      user: await this.findUserById(session.userId, { signingIn: true }),
      spentAt: found.spentAt,
      userHasVerifiedFactor: await this.hasVerifiedFactor(session.userId),
    };
  }

  /** Whether the user (a uuid) has a verified MFA factor: no session opens or refreshes for it. */
  private async hasVerifiedFactor(uid: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ guarded: boolean }>(
      `SELECT NOT ${noVerifiedFactor(this.session, '$1::uuid')} AS guarded`,
      [uid],
    );
    return rows[0]!.guarded;
  }

  redeemImportedRefreshToken(
    token: string,
    refreshSecret: string,
    successorHash: string,
    now: Date,
  ): Promise<boolean> {
    return this.rememberedIfUnanswered(
      hashSecret(token),
      now,
      redeemGoTrueRefreshToken(this.pool, this.session, token, refreshSecret, successorHash, now),
    );
  }

  async recordSessionActivity(sessionId: string, now: Date, inactiveBefore: Date): Promise<boolean> {
    if (!UUID.test(sessionId)) return false;
    // An ended session is no longer in auth.sessions: the row's presence is its being live.
    const { rowCount } = await this.pool.query(
      this.prepared(
        this.statement(
          'recordSessionActivity',
          () => `UPDATE ${this.session.sessions} s
         SET refreshed_at = $2::timestamptz AT TIME ZONE 'UTC', updated_at = $2
         WHERE s.id = $1 AND coalesce(s.not_after, ${NO_TIME_BOX}) > $2 AND ${REFRESHED_AT} > $3`,
        ),
        [sessionId, now, inactiveBefore],
      ),
    );
    return rowCount === 1;
  }

  async revokeSession(sessionId: string, reason: string, now: Date): Promise<void> {
    if (!UUID.test(sessionId)) return;
    // Idempotent: an ended session is no longer in auth.sessions, so its first reason stays.
    await this.pool.query(
      this.prepared(
        this.statement(
          'revokeSession',
          () => `WITH ${endSessionsClauses(this.session, 's.id = $1', '$2::timestamptz', '$3::text')}
         SELECT count(*)::int AS ended FROM ended`,
        ),
        [sessionId, now, reason],
      ),
    );
  }

  pruneSessions(endedBefore: Date): Promise<{ sessions: number; refreshTokens: number }> {
    return pruneSessions(this.pool, this.session, endedBefore);
  }

  async revokeUserSessions(
    userId: string,
    exceptSessionId: string | null,
    reason: string,
    now: Date,
  ): Promise<number> {
    const uid = userUid(userId);
    if (uid === null) return 0;
    const { rows } = await this.pool.query<{ ended: number }>(
      `WITH ${endSessionsClauses(
        this.session,
        's.user_id = $1 AND s.id::text IS DISTINCT FROM $2::text',
        '$3::timestamptz',
        '$4::text',
      )}
       SELECT count(*)::int AS ended FROM ended`,
      [uid, exceptSessionId, now, reason],
    );
    return rows[0]!.ended;
  }

  async createOneTimeToken(
    token: OneTimeToken,
    mails: readonly OutgoingMail[] = [],
    options: OneTimeTokenConditions = {},
  ): Promise<TokenWrite> {
    // One statement: the new token takes the place of the earlier one of its user and purpose (one
    // row per pair, migration 10), unless the earlier one is live and newer than the throttle allows;
    // the mails carrying it (the outbox rows the mail worker sends) come only with it, and GoTrue's
    // table shows it as the newest token of its type (gotrue-one-time-tokens.ts). Racing callers
    // meet on the unique index: the first inserts, each later one waits for it and then replaces it
    // or, throttled, stores nothing. The row keeps its place, so a replacement may reuse its own code.
    // An earlier token dated ahead by more than the throttle's length throttles nothing (Store's doc).
    // The user's row is read locked (FOR SHARE): a ban or a deletion in flight is waited for and then
    // seen (READ COMMITTED re-reads the row it waited for); a user deleted since the caller read it, or
    // (with unlessBannedAt) banned, or (with whileAddressIs) moved to another address, gets no row,
    // so no token, no mail.
    // The casts: an INSERT's SELECT, unlike its VALUES, does not take its columns' types.
    const { rows } = await this.pool
      .query<{ stored: number }>(
        `WITH stored AS (
         INSERT INTO ${this.oneTimeTokens.codeTokens} AS earlier
           (hash, code_hash, recipient, user_id, purpose, created_at, expires_at, data)
         SELECT $1::text, $7::text, $10::text, $2::uuid, $3::text, $4::timestamptz, $5::timestamptz, $6::jsonb
         WHERE EXISTS (SELECT 1 FROM ${this.users} u WHERE u.id = $2::uuid AND ${OWN_INSTANCE}
                        AND ($13::timestamptz IS NULL OR u.banned_until IS NULL OR u.banned_until <= $13)
                        AND ($14::text IS NULL OR u.email = $14::text) FOR SHARE)
         ON CONFLICT (user_id, purpose) DO UPDATE SET hash = EXCLUDED.hash, code_hash = EXCLUDED.code_hash,
           recipient = EXCLUDED.recipient, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
           data = EXCLUDED.data, failed_attempts = 0
         WHERE $11::timestamptz IS NULL OR earlier.created_at <= $11 OR earlier.expires_at <= $4
           OR earlier.created_at >= $4::timestamptz + ($4::timestamptz - $11::timestamptz)
         RETURNING user_id, hash, recipient, created_at
       ), shown AS (
         INSERT INTO ${this.oneTimeTokens.gotrue} AS shown
           (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
         SELECT gen_random_uuid(), s.user_id, $12::text::${this.names.schema}.one_time_token_type, s.hash,
           coalesce(s.recipient, u.email, ''), s.created_at AT TIME ZONE 'UTC', s.created_at AT TIME ZONE 'UTC'
         FROM stored s JOIN ${this.users} u ON u.id = s.user_id WHERE $12::text IS NOT NULL
         ON CONFLICT (user_id, token_type) DO UPDATE SET token_hash = EXCLUDED.token_hash,
           relates_to = EXCLUDED.relates_to, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
       ), queued AS (
         ${insertMailsSql(this.mailOutbox, '$8', '$9', 'stored')}
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM stored)::int AS stored, (SELECT count(*) FROM queued) AS queued`,
        [
          token.hash,
          userUid(token.userId),
          token.purpose,
          token.createdAt,
          token.expiresAt,
          token.data,
          token.codeHash,
          JSON.stringify(mails),
          // Due now by the mail worker's clock (the wall clock), whatever clock dated the token.
          new Date(),
          token.recipient ?? null,
          options.unlessIssuedAfter ?? null,
          gotrueTokenType(token.purpose),
          options.unlessBannedAt ?? null,
          options.whileAddressIs === undefined ? null : loginKey(options.whileAddressIs),
        ],
      )
      .catch((error: unknown) => {
        const pgError = error as { code?: string; constraint?: string };
        if (pgError.code === '23505' && pgError.constraint === 'code_tokens_code_hash')
          throw new CodeHashInUseError();
        throw error;
      });
    const stored = rows[0]!.stored === 1;
    if (stored && mails.length > 0) this.options.mailsQueued?.();
    return { stored };
  }

  async consumeOneTimeToken(hash: string, purpose: string, now: Date): Promise<OneTimeToken | null> {
    // One DELETE: a racing consumer, by link or by code, waits for the row lock and then finds no row.
    // The link's hash only: a code's hash is never a link (see consumeOneTimeCode).
    const { rows } = await this.pool.query<OneTimeTokenRow>(
      `WITH consumed AS (
         DELETE FROM ${this.oneTimeTokens.codeTokens} t WHERE t.hash = $1 AND t.purpose = $2
         RETURNING ${ONE_TIME_TOKEN_COLUMNS}
       ), ${this.unshown('consumed')}
       SELECT * FROM consumed`,
      [hash, purpose],
    );
    const row = rows[0];
    if (!row || row.expires_at.getTime() <= now.getTime()) return null;
    return toOneTimeToken(row);
  }

  async consumeOneTimeCode(attempt: CodeAttempt): Promise<OneTimeToken | null> {
    const { recipient, candidates, now, maxFailures } = attempt;
    const purposes = candidates.map((candidate) => candidate.purpose);
    const codeHashes = candidates.map((candidate) => candidate.codeHash);
    // A hit is one DELETE, as a link's: racing consumers find the row once.
    const { rows } = await this.pool.query<OneTimeTokenRow>(
      `WITH consumed AS (
         DELETE FROM ${this.oneTimeTokens.codeTokens} t
         WHERE t.recipient = $1 AND (t.purpose, t.code_hash) IN (SELECT * FROM unnest($2::text[], $3::text[]))
         RETURNING ${ONE_TIME_TOKEN_COLUMNS}
       ), ${this.unshown('consumed')}
       SELECT * FROM consumed`,
      [recipient, purposes, codeHashes],
    );
    const row = rows[0];
    if (row) return row.expires_at.getTime() <= now.getTime() ? null : toOneTimeToken(row);
    // A miss: one UPDATE counts it against every live code it may have been aimed at. Racing misses
    // queue on the row lock and each re-reads the count, so none is lost; the last allowed one retires
    // the code. The link, 256 random bits no one guesses, lives on (CodeAttempt.maxFailures).
    await this.pool.query(
      `UPDATE ${this.oneTimeTokens.codeTokens} SET failed_attempts = failed_attempts + 1,
         code_hash = CASE WHEN failed_attempts + 1 >= $4 THEN NULL ELSE code_hash END
       WHERE recipient = $1 AND purpose = ANY($2::text[]) AND expires_at > $3 AND code_hash IS NOT NULL`,
      [recipient, purposes, now, maxFailures],
    );
    return null;
  }

  async findOneTimeToken(userId: string, purpose: string, now: Date): Promise<OneTimeToken | null> {
    const uid = userUid(userId);
    if (uid === null) return null;
    const { rows } = await this.pool.query<OneTimeTokenRow>(
      `SELECT ${ONE_TIME_TOKEN_COLUMNS} FROM ${this.oneTimeTokens.codeTokens} t
       WHERE t.user_id = $1 AND t.purpose = $2 AND t.expires_at > $3 ORDER BY t.created_at DESC LIMIT 1`,
      [uid, purpose, now],
    );
    return rows[0] ? toOneTimeToken(rows[0]) : null;
  }

  async recordAuditEvent(event: AuditEvent): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.auditLog} (id, at, action, actor_id, user_id, ip, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [event.id, event.at, event.action, event.actorId, event.userId, event.ip, event.data],
    );
  }

  async listAuditEvents(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage> {
    const offset = (Math.max(options.page, 1) - 1) * options.perPage;
    const userId = options.userId ?? null;
    // Newest first; events of the same instant in insertion order (seq).
    const [page, count] = await Promise.all([
      this.pool.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM ${this.auditLog} WHERE $1::text IS NULL OR user_id = $1
         ORDER BY at DESC, seq LIMIT $2 OFFSET $3`,
        [userId, options.perPage, offset],
      ),
      this.pool.query<{ total: number }>(
        `SELECT count(*)::int AS total FROM ${this.auditLog} WHERE $1::text IS NULL OR user_id = $1`,
        [userId],
      ),
    ]);
    return { events: page.rows.map(toAuditEvent), total: count.rows[0]!.total };
  }

  async pruneAuditEvents(before: Date): Promise<number> {
    const result = await this.pool.query(`DELETE FROM ${this.auditLog} WHERE at < $1`, [before]);
    return result.rowCount ?? 0;
  }

  /** A round trip: a database out of reach rejects with the pool's 503 (store_unavailable). */
  async assertWritable(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * A named statement: each pooled connection parses and plans it once, then
   * only binds and executes it (the hot paths: sign-in, refresh, check). The
   * name is the text's hash, so two texts never share a name.
   */
  /**
   * The text of the statement `key`, built by `build` once per store. The hot paths' statements (a
   * refresh's is 2.3 KB) were built from their templates at every call, and prepared then hashed the
   * new string again to find its name: 15-25 µs of Node CPU a call, against 0.5 µs for a text kept.
   * `build` may depend on nothing but the store and what `key` names.
   */
  private statement(key: string, build: () => string): string {
    let text = this.statementTexts.get(key);
    if (text === undefined) {
      text = build();
      this.statementTexts.set(key, text);
    }
    return text;
  }

  private prepared(text: string, values: unknown[]): pg.QueryConfig {
    if (!this.options.preparedStatements) return { text, values };
    let name = this.statementNames.get(text);
    if (name === undefined) {
      name = `restauth_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
      this.statementNames.set(text, name);
    }
    return { name, text, values };
  }

  /**
   * A WITH clause deleting GoTrue's row that shows a token of `tokens` (a clause returning `hash`): a
   * token consumed or expired is no longer shown as pending.
   */
  private unshown(tokens: string): string {
    return `unshown AS (
      DELETE FROM ${this.oneTimeTokens.gotrue} g USING ${tokens} c WHERE g.token_hash = c.hash
    )`;
  }

  private async oneUser(sql: string, values: unknown[]): Promise<User | null> {
    const { rows } = await this.pool.query<UserRow>(this.prepared(sql, values)).catch(conflict);
    return rows[0] ? toUser(rows[0]) : null;
  }
}
