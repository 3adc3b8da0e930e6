import type pg from 'pg';
import { assertNotBanned } from '../../core/banned.js';
import { AuthError, type ErrorCode } from '../../core/errors.js';
import { loginKey } from '../../core/identity.js';
import type { OutgoingMail } from '../../core/ports/outbox.js';
import type { GuessProbe, GuessStanding, KnownClientRecord } from '../../core/ports/rate-limits.js';
import { passwordSetRecord } from '../../core/account-guess-limit.js';
import { hitSql, openWindow, rateLimitTable } from './rate-limits.js';
import { flowStateTable } from './flow-states.js';
import {
  type AuditEvent,
  type CodeAttempt,
  type SignUpWrites,
  type TokenWrite,
  type AuditPage,
  type Identity,
  type NewIdentity,
  type LinkConditions,
  type PasswordChangeOptions,
  type NewSession,
  type NewUser,
  type MfaFactor,
  type MfaFactorChange,
  type FoundRefreshToken,
  type OneStatementRefresh,
  type OneTimeToken,
  type SpendConditions,
  type OneTimeTokenConditions,
  type PasswordLookup,
  type Session,
  type Store,
  type TokenStanding,
  type User,
  type UserPage,
  type UserPatch,
  UserDataChangedError,
  type UserUpdateConditions,
} from '../../core/ports/store.js';
import { emailIdentityData, quotedNames, type SchemaNames } from './migrations.js';
import { insertMailsSql, outboxTable } from './outbox.js';
import {
  deleteFactor,
  factorsLateral,
  factorsOfColumn,
  listFactors,
  updateFactor,
} from './gotrue-mfa-factors.js';
import type { RefreshEntry } from './refresh-batch.js';
import { inTransaction } from './pool.js';
import { OWN_PASSWORD_WRITE } from './password-written-elsewhere.js';
import { syncProvidersSql } from './providers-sql.js';
import { checkRoleName, createUserRole, dropUserRole, type RoleNames } from './user-roles.js';
import { nameSkeletonColumns, refuseLookalike } from './name-skeletons.js';
import { oneTimeTokenTables } from './gotrue-one-time-tokens.js';
import {
  endSessionsClauses,
  insertSessionSql,
  knownClientClause,
  NO_TIME_BOX,
  noVerifiedFactor,
  sessionTables,
  type SessionTables,
} from './session-sql.js';
import { openSessionCallSql, openSignInCallSql } from './open-sign-in.js';
import { rowDate, type RowTimestamp } from './row-values.js';
import { StatementCache } from './statement-cache.js';
import { PostgresAuditEvents } from './audit-events.js';
import { PostgresCodeTokens } from './code-tokens.js';
import { PostgresSessions } from './session-store.js';
import {
  conflict,
  IDENTITY_COLUMNS,
  toIdentity,
  toUser,
  userColumns,
  type IdentityRow,
  type UserRow,
} from './store-rows.js';
import { findableUsers, ofAudience, ofOwnUser, OWN_INSTANCE, userUid, UUID } from './user-scope.js';

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
  /** The audit log (audit-events.ts). */
  private readonly audit: PostgresAuditEvents;
  /** One-time tokens and the mails carrying them (code-tokens.ts). */
  private readonly codeTokens: PostgresCodeTokens;
  /** The shared rate-limit windows: a password sign-in reads and writes the account's guess limit there. */
  private readonly rateLimits: string;
  /** GoTrue's flow_state (flowStateTable): a password change ends the account's flows in its write. */
  private readonly flowStates: string;
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
  private readonly statements: StatementCache;
  /** Sessions and refresh tokens (session-store.ts). */
  private readonly sessions: PostgresSessions;

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
    this.statements = new StatementCache(options.preparedStatements);
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
    this.sessions = new PostgresSessions(
      pool,
      this.session,
      this.users,
      this.statements,
      this.userColumns,
      this.signedInUserFrom,
      (id) => this.findUserById(id, { signingIn: true }),
    );
    this.oneTimeTokens = oneTimeTokenTables(this.names);
    // GoTrue has no table for these: they live in restauth's schema (migration 16).
    this.audit = new PostgresAuditEvents(pool, `${restauth}.audit_log`);
    this.rateLimits = rateLimitTable(schemaNames);
    this.flowStates = flowStateTable(schemaNames);
    this.userRoles = `${restauth}.user_roles`;
    this.mailOutbox = outboxTable(schemaNames);
    this.codeTokens = new PostgresCodeTokens(
      pool,
      this.names,
      this.users,
      this.oneTimeTokens,
      this.mailOutbox,
      options.mailsQueued,
    );
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
    // On the row the UPDATE locks, as the ban: a password replaced meanwhile refuses the write.
    if (condition.whilePasswordHashIs !== undefined) {
      values.push(condition.whilePasswordHashIs);
      userWhere += ` AND u.encrypted_password = $${values.length}`;
    }
    // Likewise the session that licensed it, its row locked (FOR SHARE): a sign-out that deleted it
    // first refuses the write, one that comes after waits for this one to commit.
    if (condition.whileSessionLive !== undefined) {
      values.push(...sessionLiveValues(condition.whileSessionLive));
      userWhere += ` AND ${this.sessionLiveClause(values.length - 1, values.length)}`;
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

  /**
   * Why updateUser's conditional write wrote nothing: gone, banned, its licensing session ended, its
   * data read or its password changed since. The session first: a merge refused for it is not to be
   * merged again (updateMerged retries a UserDataChangedError).
   */
  private async updateRefusal(id: string, condition: UserUpdateConditions): Promise<never> {
    const dataConditioned =
      condition.whileProfileIs !== undefined || condition.whileAppMetadataIs !== undefined;
    const sessionEnded =
      condition.whileSessionLive !== undefined && !(await this.sessionLive(id, condition.whileSessionLive));
    return this.refusal(
      id,
      condition.unlessBannedAt ?? null,
      sessionEnded
        ? 'session_not_found'
        : dataConditioned
          ? new UserDataChangedError()
          : condition.whilePasswordHashIs !== undefined
            ? 'invalid_credentials'
            : condition.whileSessionLive !== undefined
              ? 'session_not_found'
              : 'user_not_found',
    );
  }

  /**
   * The condition that the session $`idAt` (sessionLiveValues' first value) of the user `u` is live at
   * $`atAt`, its row locked (FOR SHARE): a sign-out that deleted it first refuses the write, one that
   * comes after waits for the write's transaction to commit.
   */
  private sessionLiveClause(idAt: number, atAt: number): string {
    return `EXISTS (SELECT 1 FROM ${this.session.sessions} s
        WHERE s.id = $${idAt}::uuid AND s.user_id = u.id
          AND coalesce(s.not_after, ${NO_TIME_BOX}) > $${atAt} FOR SHARE OF s)`;
  }

  /** Whether the user's session is live at `at` now (why a write conditioned on it wrote nothing). */
  private async sessionLive(userId: string, live: { sessionId: string; at: Date }): Promise<boolean> {
    const uid = userUid(userId);
    const [sessionId, at] = sessionLiveValues(live);
    if (uid === null || sessionId === null) return false;
    const { rows } = await this.pool.query(
      `SELECT 1 FROM ${this.session.sessions} s
       WHERE s.id = $1::uuid AND s.user_id = $2 AND coalesce(s.not_after, ${NO_TIME_BOX}) > $3`,
      [sessionId, uid, at],
    );
    return rows.length > 0;
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
    if (await this.sessions.hasVerifiedFactor(user.id)) throw new AuthError('insufficient_aal');
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
    return uid === null ? [] : listFactors(this.pool, this.session.factors, this.users, uid);
  }

  async updateMfaFactor(
    userId: string,
    factorId: string,
    change: MfaFactorChange,
    now: Date,
  ): Promise<MfaFactor | null> {
    const uid = userUid(userId);
    if (uid === null || userUid(factorId) === null) return null;
    return updateFactor(this.pool, this.session.factors, this.users, uid, factorId, change, now);
  }

  async deleteMfaFactor(userId: string, factorId: string): Promise<MfaFactor | null> {
    const uid = userUid(userId);
    // Neither id a UUID names no factor: never cast in the query (an SQL error, a 500).
    if (uid === null || userUid(factorId) === null) return null;
    return deleteFactor(this.pool, this.session.factors, this.users, uid, factorId);
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
      `SELECT ${IDENTITY_COLUMNS} FROM ${this.identities} i WHERE i.user_id = $1 AND ${ofOwnUser(this.users, 'i.user_id')}
       ORDER BY i.created_at, i.id`,
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
      `SELECT ${IDENTITY_COLUMNS} FROM ${this.identities} i
       WHERE i.user_id = ANY($1::uuid[]) AND ${ofOwnUser(this.users, 'i.user_id')} ORDER BY i.created_at, i.id`,
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

  async linkIdentity(identity: NewIdentity, condition: LinkConditions = {}): Promise<Identity> {
    if (identity.provider === 'email')
      throw new AuthError('validation_failed', 'The email identity follows the address');
    const uid = userUid(identity.userId);
    if (uid === null) throw new AuthError('user_not_found');
    // One statement on the (provider_id, provider) unique key: a racing link of the same identity
    // waits for the first to commit, then takes the conflict path, which updates only the holder's own.
    // The user's row is taken first, as every identity write takes it, so its providers, set after in
    // the same transaction, see every identity (syncProvidersSql). A sign-in by a provider sets them
    // too, as GoTrue's.
    // The session that asked for the link, as updateUser's whileSessionLive: on the row it locks.
    const live = condition.whileSessionLive;
    const values: unknown[] = [
      uid,
      identity.provider,
      identity.providerId,
      identity.identityData,
      identity.now,
    ];
    if (live !== undefined) values.push(...sessionLiveValues(live));
    const sessionWhere = live === undefined ? '' : ` AND ${this.sessionLiveClause(6, 7)}`;
    const linked = await inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<IdentityRow>(
        `INSERT INTO ${this.identities} AS i
           (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
         SELECT $3, u.id, $4, $2, $5, $5, $5 FROM ${this.users} u
         WHERE u.id = $1 AND ${OWN_INSTANCE} AND (u.banned_until IS NULL OR u.banned_until <= $5)${sessionWhere}
         FOR NO KEY UPDATE OF u
         ON CONFLICT (provider_id, provider) DO UPDATE
           SET identity_data = i.identity_data || EXCLUDED.identity_data,
             last_sign_in_at = EXCLUDED.last_sign_in_at, updated_at = EXCLUDED.updated_at
           WHERE i.user_id = EXCLUDED.user_id
         RETURNING ${IDENTITY_COLUMNS}`,
        values,
      );
      if (rows[0]) await this.syncProviders(client, uid);
      return rows[0];
    });
    if (linked) return toIdentity(linked);
    // Nothing written: the user is missing or banned, its session ended, or another user holds the identity.
    const sessionEnded = live !== undefined && !(await this.sessionLive(uid, live));
    return this.refusal(uid, identity.now, sessionEnded ? 'session_not_found' : 'identity_already_exists');
  }

  async unlinkIdentity(userId: string, identityId: string, condition: LinkConditions = {}): Promise<void> {
    const uid = userUid(userId);
    if (uid === null || !UUID.test(identityId)) throw new AuthError('identity_not_found');
    await inTransaction(this.pool, async (client) => {
      // The user's row lock orders racing unlinks: two cannot each leave the other's identity as the last.
      const { rows } = await client.query<{ email: string | null }>(
        `SELECT u.email FROM ${this.users} u WHERE u.id = $1 AND ${OWN_INSTANCE} FOR UPDATE`,
        [uid],
      );
      // The session that asked for it, read locked (FOR SHARE) as changePassword reads its kept one: a
      // sign-out in flight is waited for, then refuses the unlink; one after waits for it to commit.
      if (rows[0] && condition.whileSessionLive !== undefined) {
        const [sessionId, at] = sessionLiveValues(condition.whileSessionLive);
        const live =
          sessionId !== null &&
          (
            await client.query(
              `SELECT 1 FROM ${this.session.sessions} s
               WHERE s.id = $1 AND s.user_id = $2 AND coalesce(s.not_after, ${NO_TIME_BOX}) > $3 FOR SHARE`,
              [sessionId, uid, at],
            )
          ).rowCount === 1;
        if (!live) throw new AuthError('session_not_found');
      }
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
    // The same password rehashed: marked as restauth's own write, it ends no known client.
    return inTransaction(this.pool, async (client) => {
      await client.query(OWN_PASSWORD_WRITE);
      const result = await client.query(
        `UPDATE ${this.users} u SET encrypted_password = $2, updated_at = now()
         WHERE u.id = $1 AND ${OWN_INSTANCE} AND u.encrypted_password IS NOT DISTINCT FROM $3`,
        [uid, passwordHash, expectedHash],
      );
      return result.rowCount === 1;
    });
  }

  async changePassword(
    userId: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: Date,
    expectedHash?: string | null,
    options: PasswordChangeOptions = {},
  ): Promise<User> {
    const uid = userUid(userId);
    if (uid === null) throw new AuthError('user_not_found');
    const set = passwordSetRecord(now);
    const keptFlow = options.keptFlowId != null && UUID.test(options.keptFlowId) ? options.keptFlowId : null;
    const caller = options.knownClient ?? null;
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
      // The kept session licenses the change (PUT /user): its row is read locked (FOR SHARE), so a
      // sign-out that deleted it and has not committed yet is waited for, then refuses the change,
      // and one that comes after waits for the change to commit. A plain read saw the row a sign-out
      // was deleting, and the change that session licensed landed after the sign-out.
      if (keepSessionId !== null) {
        const kept = UUID.test(keepSessionId)
          ? await client.query(
              `SELECT 1 FROM ${this.session.sessions} WHERE id = $1 AND user_id = $2 FOR SHARE`,
              [keepSessionId, uid],
            )
          : { rowCount: 0 };
        if (kept.rowCount !== 1) throw new AuthError('session_not_found');
      }
      // Its own record below ends the known clients (migration 64's trigger leaves this write alone).
      await client.query(OWN_PASSWORD_WRITE);
      // The new hash, the count and the revocations commit together. The count is bumped only when no
      // session is kept: a kept session's access token goes on working. So does the change's record
      // in rate_limits, which ends the known clients that signed in before it (the guess limit), and
      // the caller's own client, known from now on (options.knownClient: its session is kept). The
      // account's PKCE flows but $10 end with its sessions (their pending links by cascade): an exchange
      // that found its flow before this commit finds it gone when it spends it (consumeFlowState).
      const changed = await client.query<UserRow>(
        `WITH u AS (
           UPDATE ${this.users} SET encrypted_password = $2, updated_at = $4 WHERE id = $5 RETURNING *
         ), a AS (
           UPDATE ${this.accounts} SET token_count = token_count + CASE WHEN $3::text IS NULL THEN 1 ELSE 0 END
           WHERE id = $1 RETURNING *
         ), ${endSessionsClauses(this.session, 's.user_id = $5 AND s.id::text IS DISTINCT FROM $3', '$4::timestamptz', `'password_changed'`)},
         ${knownClientClause(
           this.rateLimits,
           `SELECT v.key, v.reset_at, 1 FROM (VALUES ($6::text || $5::uuid::text, $7::timestamptz), ($8::text, $9::timestamptz))
              AS v(key, reset_at) WHERE v.key IS NOT NULL`,
         )}, flows_ended AS (
           DELETE FROM ${this.flowStates} f WHERE f.user_id = $5 AND ($10::uuid IS NULL OR f.id <> $10::uuid)
         )
         SELECT ${this.userColumns} FROM u JOIN a ON a.uid = u.id`,
        [
          locked.user_key,
          passwordHash,
          keepSessionId,
          now,
          uid,
          set.prefix,
          set.until,
          caller?.key ?? null,
          caller?.until ?? null,
          keptFlow,
        ],
      );
      return toUser(changed.rows[0]!);
    });
  }

  /**
   * A sign-in's lookup condition on userFrom, `$1` the login key. By name, the user's id is also asked
   * of the account by its unique username_lowercase first (an InitPlan, run once): with the tables'
   * statistics those of empty tables (users imported or registered within the minute before
   * autovacuum's analyze, as in the login bench) the planner scanned every user of the instance and
   * probed the account's index once for each (400 users: 0.59 ms and 642 buffer hits per sign-in,
   * against 0.06 ms and 98 once analyzed). The id pins users to their primary key whatever the
   * statistics; the rows are the same (the account's uid is the user's id).
   */
  private loginMatch(byEmail: boolean): string {
    if (byEmail) return 'u.email = $1';
    return `a.username_lowercase = $1 AND u.id = (SELECT n.uid FROM ${this.accounts} n WHERE n.username_lowercase = $1)`;
  }

  async findUserWithPasswordHash(
    key: string,
    byEmail: boolean,
    guesses?: GuessProbe | null,
  ): Promise<PasswordLookup | null> {
    if (guesses) return this.findUserWithGuesses(key, byEmail, guesses);
    const { rows } = await this.pool
      .query<UserRow & { password_hash: string | null }>(
        this.prepared(
          this.statement(
            byEmail ? 'userWithPasswordHashByEmail' : 'userWithPasswordHashByName',
            () => `SELECT ${this.userColumns}, u.encrypted_password AS password_hash FROM ${this.userFrom}
           WHERE ${this.loginMatch(byEmail)} AND ${this.findableUsers}`,
          ),
          [loginKey(key)],
        ),
      )
      .catch(conflict);
    const row = rows[0];
    return row ? { user: toUser(row), passwordHash: row.password_hash } : null;
  }

  /**
   * findUserWithPasswordHash with the login's and the account's wrong passwords in their open
   * windows (the shared rate_limits rows the guess limit counts them in) and, only once either is
   * spent, whether the asking client signed the account in lately and not before its password was
   * last set (a known client's row ending before the change's: both end as long after they were
   * written, see passwordSetRecord): one statement, as without the
   * limit. Always one row: with no such user its columns are null, the account's count too. A
   * per-client hit (`clientHit`, the sign-in family's) is counted in the same statement, so the
   * route's limit costs no round trip of its own (issue 17).
   */
  private async findUserWithGuesses(
    key: string,
    byEmail: boolean,
    guesses: GuessProbe,
  ): Promise<PasswordLookup & { guesses: GuessStanding }> {
    type Row = UserRow & {
      password_hash: string | null;
      guess_failures: number | null;
      guess_reset_at: Date | null;
      account_failures: number | null;
      account_reset_at: Date | null;
      known_client: boolean;
      hit_count?: number;
      hit_reset_at?: Date;
    };
    const hit = guesses.clientHit ?? null;
    // The hit's row is another key than the rows read: the read's snapshot, before the insert, is theirs.
    const lookup = (
      counting: boolean,
    ) => `${counting ? `WITH hit AS (${hitSql(this.rateLimits, '$9', '$3', '$10')} RETURNING count, reset_at) ` : ''}SELECT ${this.userColumns}, u.encrypted_password AS password_hash,
             g.count AS guess_failures, g.reset_at AS guess_reset_at,
             ga.count AS account_failures, ga.reset_at AS account_reset_at,
             CASE WHEN (g.count >= $5 OR ga.count >= $5) AND $6::text IS NOT NULL THEN EXISTS (
               SELECT 1 FROM ${this.rateLimits} k WHERE k.key = $6 || u.id::text AND k.reset_at > $3
                 AND NOT EXISTS (
                   SELECT 1 FROM ${this.rateLimits} p WHERE p.key = $8 || u.id::text AND p.reset_at > k.reset_at
                 )
             ) ELSE false END AS known_client${counting ? ', hit.count AS hit_count, hit.reset_at AS hit_reset_at' : ''}
           FROM (SELECT) AS one${counting ? ' CROSS JOIN hit' : ''}
           LEFT JOIN (${this.userFrom})
             ON ${this.loginMatch(byEmail)} AND ${this.findableUsers}
           LEFT JOIN ${this.rateLimits} g ON g.key = $7 AND ${openWindow('g.reset_at', '$3', '$4')}
           LEFT JOIN ${this.rateLimits} ga ON ga.key = $2 || u.id::text
             AND ${openWindow('ga.reset_at', '$3', '$4')}`;
    const name = `userWithGuessesBy${byEmail ? 'Email' : 'Name'}${hit ? 'Counted' : ''}`;
    const { rows } = await this.pool
      .query<Row>(
        this.prepared(
          this.statement(name, () => lookup(hit !== null)),
          [
            loginKey(key),
            guesses.failuresPrefix,
            guesses.now,
            guesses.windowMs,
            guesses.max,
            guesses.knownPrefix,
            guesses.loginKey,
            guesses.passwordSetPrefix,
            ...(hit ? [hit.key, hit.windowMs] : []),
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
        account:
          row.id === null ? null : { failures: row.account_failures ?? 0, resetAt: row.account_reset_at },
        knownClient: row.known_client,
      },
      ...(row.hit_count !== undefined && row.hit_reset_at !== undefined
        ? { clientHit: { count: row.hit_count, resetAt: row.hit_reset_at } }
        : {}),
    };
  }

  async openSignIn(input: {
    lastSignInAt: Date;
    session: NewSession;
    audit: AuditEvent | null;
    provenHash: string;
    knownClient?: KnownClientRecord | null;
  }): Promise<{ user: User; session: Session }> {
    const { session, audit } = input;
    const uid = userUid(session.userId);
    if (uid === null) throw new AuthError('user_not_found');
    // One statement (migration 36): the writes, the cap and the event commit together.
    const { rows } = await this.pool.query<UserRow & { password_hash: string | null }>(
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
          input.provenHash,
        ],
      ),
    );
    if (!rows[0]) return this.sessionRefusal(uid, session.createdAt);
    if (rows[0].password_hash !== input.provenHash) {
      // Replaced since the sign-in verified it (Store.openSignIn). The hash was read from the user's row
      // as the call locked it, so the change committed first: its end of the account's sessions did
      // not see this one, which ends here (the known client was not written: openSignInCallSql). Its
      // audit event stays: a sign-in was made, and refused.
      await this.revokeSession(session.id, 'password_changed', session.createdAt);
      throw new AuthError('invalid_credentials');
    }
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

  listSessions(userId: string): Promise<Session[]> {
    return this.sessions.listSessions(userId);
  }

  findSession(id: string): Promise<Session | null> {
    return this.sessions.findSession(id);
  }

  findTokenStanding(sessionId: string, userId: string): Promise<TokenStanding> {
    return this.sessions.findTokenStanding(sessionId, userId);
  }

  findRefreshToken(hash: string): Promise<FoundRefreshToken | null> {
    return this.sessions.findRefreshToken(hash);
  }

  refreshInOneStatement(
    presentedHash: string,
    successorHash: string,
    now: Date,
    inactiveBefore: Date,
  ): Promise<OneStatementRefresh | null> {
    return this.sessions.refreshInOneStatement(presentedHash, successorHash, now, inactiveBefore);
  }

  /** One refresh in a statement of its own (PostgresSessions.refreshAlone: the bench's before). */
  refreshAlone(entry: RefreshEntry): Promise<OneStatementRefresh | null> {
    return this.sessions.refreshAlone(entry);
  }

  rotateRefreshToken(presentedHash: string, successorHash: string, now: Date): Promise<boolean> {
    return this.sessions.rotateRefreshToken(presentedHash, successorHash, now);
  }

  unansweredRotation(presentedHash: string, rotatedAt: Date, now: Date): Promise<boolean> {
    return this.sessions.unansweredRotation(presentedHash, rotatedAt, now);
  }

  findImportedRefreshToken(token: string): ReturnType<PostgresSessions['findImportedRefreshToken']> {
    return this.sessions.findImportedRefreshToken(token);
  }

  redeemImportedRefreshToken(
    token: string,
    refreshSecret: string,
    successorHash: string,
    now: Date,
  ): Promise<boolean> {
    return this.sessions.redeemImportedRefreshToken(token, refreshSecret, successorHash, now);
  }

  recordSessionActivity(sessionId: string, now: Date, inactiveBefore: Date): Promise<boolean> {
    return this.sessions.recordSessionActivity(sessionId, now, inactiveBefore);
  }

  revokeSession(sessionId: string, reason: string, now: Date): Promise<void> {
    return this.sessions.revokeSession(sessionId, reason, now);
  }

  pruneSessions(endedBefore: Date): Promise<{ sessions: number; refreshTokens: number }> {
    return this.sessions.pruneSessions(endedBefore);
  }

  revokeUserSessions(
    userId: string,
    exceptSessionId: string | null,
    reason: string,
    now: Date,
  ): Promise<number> {
    return this.sessions.revokeUserSessions(userId, exceptSessionId, reason, now);
  }

  createOneTimeToken(
    token: OneTimeToken,
    mails: readonly OutgoingMail[] = [],
    options: OneTimeTokenConditions = {},
  ): Promise<TokenWrite> {
    return this.codeTokens.createOneTimeToken(token, mails, options);
  }

  consumeOneTimeToken(
    hash: string,
    purpose: string,
    now: Date,
    conditions?: SpendConditions,
  ): Promise<OneTimeToken | null> {
    return this.codeTokens.consumeOneTimeToken(hash, purpose, now, conditions);
  }

  consumeOneTimeCode(attempt: CodeAttempt): Promise<OneTimeToken | null> {
    return this.codeTokens.consumeOneTimeCode(attempt);
  }

  findOneTimeToken(userId: string, purpose: string, now: Date): Promise<OneTimeToken | null> {
    return this.codeTokens.findOneTimeToken(userId, purpose, now);
  }

  recordAuditEvent(event: AuditEvent): Promise<void> {
    return this.audit.recordAuditEvent(event);
  }

  listAuditEvents(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage> {
    return this.audit.listAuditEvents(options);
  }

  pruneAuditEvents(before: Date): Promise<number> {
    return this.audit.pruneAuditEvents(before);
  }

  /** A round trip: a database out of reach rejects with the pool's 503 (store_unavailable). */
  async assertWritable(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    // Before the pool ends: a rotation whose answer was lost, not recorded yet, is recorded now, so
    // that its client's retry reaches the record on another instance or on this one restarted.
    await this.sessions.settleUnanswered();
    await this.pool.end();
  }

  /** The statement `key`'s text, built once (StatementCache.statement). */
  private statement(key: string, build: () => string): string {
    return this.statements.statement(key, build);
  }

  /** `text` as a named statement when the store prepares them (StatementCache.prepared). */
  private prepared(text: string, values: unknown[]): pg.QueryConfig {
    return this.statements.prepared(text, values);
  }

  private async oneUser(sql: string, values: unknown[]): Promise<User | null> {
    const { rows } = await this.pool.query<UserRow>(this.prepared(sql, values)).catch(conflict);
    return rows[0] ? toUser(rows[0]) : null;
  }
}

/** A whileSessionLive condition's values: the session's id (null when no UUID: no session) and `at`. */
function sessionLiveValues({ sessionId, at }: { sessionId: string; at: Date }): [string | null, Date] {
  return [UUID.test(sessionId) ? sessionId : null, at];
}
