import type pg from 'pg';
import { AuthError } from '../../core/errors.js';
import { hashSecret } from '../../core/secrets.js';
import type {
  FoundRefreshToken,
  OneStatementRefresh,
  Session,
  TokenStanding,
  User,
} from '../../core/ports/store.js';
import { findGoTrueRefreshToken, redeemGoTrueRefreshToken } from './gotrue-tokens.js';
import { refreshInOneStatementSql, refreshTokenLookupSql } from './refresh-exchange.js';
import { RefreshBatcher, type RefreshEntry } from './refresh-batch.js';
import { refreshBatchSql } from './refresh-batch-sql.js';
import { arrayLiteral } from './array-literal.js';
import { UnansweredRefreshes, type UnansweredRotation } from './unanswered-refreshes.js';
import { isStoreUnavailable } from './faults.js';
import { tokenStandingSql, toTokenStanding, type TokenStandingRow } from './token-standing.js';
import { pruneSessions } from './upkeep.js';
import {
  ENDED_SESSION_AMR,
  ENDED_SESSION_COLUMNS,
  LIVE_SESSION_COLUMNS,
  liveSessionAmr,
  endSessionsClauses,
  NO_TIME_BOX,
  REFRESHED_AT,
  noVerifiedFactor,
  type SessionTables,
} from './session-sql.js';
import type { StatementCache } from './statement-cache.js';
import { toFoundToken, toSession, type FoundTokenRow, type SessionRow } from './store-rows.js';
import { ofOwnUser, OWN_INSTANCE, userUid, UUID } from './user-scope.js';

/**
 * Sessions and their refresh tokens in GoTrue's tables (session-sql.ts), for PostgresStore: found,
 * refreshed (batched: refresh-batch.ts), rotated, ended. The hot paths' statements are named
 * (StatementCache), shared with the store.
 */
export class PostgresSessions {
  constructor(
    private readonly pool: pg.Pool,
    /** GoTrue's sessions and refresh tokens, and restauth's part of them (session-sql.ts). */
    private readonly session: SessionTables,
    /** GoTrue's users: a user's sessions are read and ended only for a user of this instance (ofOwnUser). */
    private readonly users: string,
    private readonly statements: StatementCache,
    /** The store's user columns and its users an access token or a refresh signs in (signedInUserFrom). */
    private readonly userColumns: string,
    private readonly signedInUserFrom: string,
    /** The user a session signs in (findUserById with signingIn). */
    private readonly findSignedInUser: (id: string) => Promise<User | null>,
  ) {
    this.unanswered = new UnansweredRefreshes(pool, session.unanswered, session.refreshTokens);
  }

  /** Refreshes asked for in one turn of the event loop, sent as one statement (refresh-batch.ts). */
  private readonly refreshes = new RefreshBatcher(
    (entries) => this.refreshBatch(entries),
    (entry) => this.refreshAlone(entry),
  );
  /**
   * Rotations whose write failed unanswered, recorded in the database for a retry that reaches any
   * instance (unanswered-refreshes.ts): the one-statement refresh's, and those core derived the
   * successor of (a session of chain 1, a GoTrue-made token).
   */
  private readonly unanswered: UnansweredRefreshes;

  async listSessions(userId: string): Promise<Session[]> {
    const uid = userUid(userId);
    if (uid === null) return [];
    // Every row of auth.sessions is a session not ended (ended ones leave it).
    const { rows } = await this.pool.query<SessionRow>(
      `SELECT ${LIVE_SESSION_COLUMNS}, ${liveSessionAmr(this.session)} FROM ${this.session.sessions} s
       LEFT JOIN ${this.session.secrets} k ON k.session_id = s.id
       WHERE s.user_id = $1 AND ${ofOwnUser(this.users, 's.user_id')} ORDER BY s.created_at DESC`,
      [uid],
    );
    return rows.map(toSession);
  }

  /**
   * By session id, yet only a session of this instance's users (ofOwnUser), as listSessions by user:
   * GoTrue finds a session through its user, so no caller reaches another instance's, live or ended.
   */
  async findSession(id: string): Promise<Session | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.pool.query<SessionRow>(
      this.statements.prepared(
        this.statements.statement(
          'findSession',
          () => `SELECT ${LIVE_SESSION_COLUMNS}, ${liveSessionAmr(this.session)} FROM ${this.session.sessions} s
         LEFT JOIN ${this.session.secrets} k ON k.session_id = s.id
         WHERE s.id = $1 AND ${ofOwnUser(this.users, 's.user_id')}
         UNION ALL
         SELECT ${ENDED_SESSION_COLUMNS}, ${ENDED_SESSION_AMR} FROM ${this.session.ends} e
         WHERE e.id = $1 AND ${ofOwnUser(this.users, 'e.user_id')}`,
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
      this.statements.prepared(
        this.statements.statement(bySerial ? 'tokenStandingBySerial' : 'tokenStandingByUuid', () =>
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
      this.statements.prepared(
        this.statements.statement('refreshTokenLookup', () =>
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
    // A retry of an unanswered rotation finds its token already rotated, and only then does core ask
    // unansweredRotation: a usual refresh costs no more than before.
    const entry = { presentedHash, successorHash, now, inactiveBefore };
    return this.rememberedIfUnanswered(entry, this.refreshes.refresh(entry));
  }

  /** One refresh in a statement of its own, as refreshInOneStatement was before batching (the bench's before). */
  async refreshAlone(entry: RefreshEntry): Promise<OneStatementRefresh | null> {
    const { rows } = await this.pool.query<FoundTokenRow & { rotated: number }>(
      this.statements.prepared(
        this.statements.statement('refreshInOneStatement', () =>
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
      this.statements.prepared(
        this.statements.statement('refreshBatch', () =>
          refreshBatchSql(this.session, this.userColumns, this.signedInUserFrom),
        ),
        [
          arrayLiteral(entries.map((entry) => entry.presentedHash)),
          arrayLiteral(entries.map((entry) => entry.successorHash)),
          arrayLiteral(entries.map((entry) => entry.now.getTime())),
          arrayLiteral(entries.map((entry) => entry.inactiveBefore.getTime())),
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
    // parent. Only a token of this instance's users (OWN_INSTANCE), as findSession finds a session;
    // nothing for a user banned at $3, judged on the row the statement reads (a ban committed since
    // the caller's findRefreshToken: user_banned, the token unspent).
    const { rows } = await this.rememberedIfUnanswered(
      { presentedHash, successorHash, now },
      this.pool.query<{ rotated: number; banned: boolean | null }>(
        this.statements.prepared(
          this.statements.statement(
            'rotateRefreshToken',
            () => `WITH live AS (
         SELECT t.id, coalesce(u.banned_until > $3, false) AS banned
         FROM ${this.session.refreshTokens} t JOIN ${this.session.sessions} s ON s.id = t.session_id
           JOIN ${this.users} u ON u.id = s.user_id AND ${OWN_INSTANCE}
         WHERE t.token = $1 AND t.revoked IS NOT TRUE AND ${noVerifiedFactor(this.session, 's.user_id')}
         FOR NO KEY UPDATE OF s
       ), rotated AS (
         UPDATE ${this.session.refreshTokens} t SET revoked = true, updated_at = $3
         WHERE t.id IN (SELECT id FROM live WHERE NOT banned) AND t.revoked IS NOT TRUE
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
       SELECT count(*)::int AS rotated, (SELECT bool_or(banned) FROM live) AS banned FROM successor`,
          ),
          [presentedHash, successorHash, now],
        ),
      ),
    );
    if (rows[0]!.banned === true) throw new AuthError('user_banned');
    return rows[0]!.rotated === 1;
  }

  /**
   * `write`'s outcome; when it fails as a lost or refused connection does (the only failure that may
   * hide a COMMIT: any other answer says the transaction rolled back), the rotation is recorded if it
   * committed after all, for a retry on any instance (unansweredRotation).
   */
  private rememberedIfUnanswered<T>(rotation: UnansweredRotation, write: Promise<T>): Promise<T> {
    return write.catch((error: unknown) => {
      if (isStoreUnavailable(error)) this.unanswered.remember(rotation);
      throw error;
    });
  }

  unansweredRotation(presentedHash: string, rotatedAt: Date, now: Date): Promise<boolean> {
    return this.unanswered.claim(presentedHash, rotatedAt, now);
  }

  /** Records the unanswered rotations not written yet, once, before the store closes. */
  settleUnanswered(): Promise<void> {
    return this.unanswered.flush();
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
      user: await this.findSignedInUser(session.userId),
      spentAt: found.spentAt,
      userHasVerifiedFactor: await this.hasVerifiedFactor(session.userId),
    };
  }

  /** Whether the user (a uuid) has a verified MFA factor: no session opens or refreshes for it. */
  async hasVerifiedFactor(uid: string): Promise<boolean> {
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
      { presentedHash: hashSecret(token), successorHash, now },
      redeemGoTrueRefreshToken(this.pool, this.session, this.users, token, refreshSecret, successorHash, now),
    );
  }

  async recordSessionActivity(sessionId: string, now: Date, inactiveBefore: Date): Promise<boolean> {
    if (!UUID.test(sessionId)) return false;
    // An ended session is no longer in auth.sessions: the row's presence is its being live.
    const { rowCount } = await this.pool.query(
      this.statements.prepared(
        this.statements.statement(
          'recordSessionActivity',
          () => `UPDATE ${this.session.sessions} s
         SET refreshed_at = $2::timestamptz AT TIME ZONE 'UTC', updated_at = $2
         WHERE s.id = $1 AND coalesce(s.not_after, ${NO_TIME_BOX}) > $2 AND ${REFRESHED_AT} > $3
           AND ${ofOwnUser(this.users, 's.user_id')}`,
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
      this.statements.prepared(
        this.statements.statement(
          'revokeSession',
          () => `WITH ${endSessionsClauses(
            this.session,
            `s.id = $1 AND ${ofOwnUser(this.users, 's.user_id')}`,
            '$2::timestamptz',
            '$3::text',
          )}
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
        `s.user_id = $1 AND s.id::text IS DISTINCT FROM $2::text AND ${ofOwnUser(this.users, 's.user_id')}`,
        '$3::timestamptz',
        '$4::text',
      )}
       SELECT count(*)::int AS ended FROM ended`,
      [uid, exceptSessionId, now, reason],
    );
    return rows[0]!.ended;
  }
}
