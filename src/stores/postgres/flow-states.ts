import type pg from 'pg';
import { AuthError } from '../../core/errors.js';
import type {
  CodeChallengeMethod,
  FlowSpendConditions,
  FlowState,
  FlowStateStore,
  NewFlowState,
  OAuthFlow,
} from '../../core/ports/flow-states.js';
import { quotedNames, type SchemaNames } from './migrations.js';

interface FlowStateRow {
  id: string;
  user_id: string;
  auth_code: string | null;
  code_challenge: string;
  code_challenge_method: CodeChallengeMethod;
  authentication_method: string;
  provider_type: string;
  created_at: Date;
  auth_code_issued_at: Date | null;
  provider_access_token: string | null;
  provider_refresh_token: string | null;
  pending_link: string | null;
}

interface OAuthFlowRow {
  id: string;
  provider_type: string;
  code_challenge: string | null;
  code_challenge_method: CodeChallengeMethod | null;
  referrer: string | null;
  linking_target_id: string | null;
  linking_session_id: string | null;
  created_at: Date;
}

/** GoTrue's authentication method of an OAuth flow (models.OAuth). */
const OAUTH = 'oauth';

/** A flow's columns, its pending link (pendingLinkTable) with them: usable in SELECT and RETURNING. */
function columns(pendingLinks: string): string {
  return `id::text, user_id::text, auth_code, code_challenge, code_challenge_method::text,
  authentication_method, provider_type, created_at, auth_code_issued_at, provider_access_token,
  provider_refresh_token, (SELECT p.link FROM ${pendingLinks} p WHERE p.flow_id = flow_state.id) AS pending_link`;
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

/** GoTrue's flow-state table (migration 20). */
export function flowStateTable(names: SchemaNames): string {
  return `${quotedNames(names).schema}.flow_state`;
}

/** GoTrue's users, whose bans a flow's spend judges. */
export function usersTable(names: SchemaNames): string {
  return `${quotedNames(names).schema}.users`;
}

/** restauth's table of spent id_tokens (migration 43): GoTrue keeps none. */
export function spentIdTokenTable(names: SchemaNames): string {
  return `${quotedNames(names).restauth}.spent_id_tokens`;
}

/**
 * Migration 44's table: the session that started each link flow. In restauth's schema, not a column
 * of GoTrue's flow_state, whose columns a database GoTrue made must have (gotrue-adopt.ts).
 */
export function linkFlowSessionTable(names: SchemaNames): string {
  return `${quotedNames(names).restauth}.link_flow_sessions`;
}

/** Migration 45's table: a linkIdentity flow's identity, linked when its code is exchanged. restauth's, as 44's. */
export function pendingLinkTable(names: SchemaNames): string {
  return `${quotedNames(names).restauth}.pending_identity_links`;
}

/** PKCE flow states in GoTrue's `auth.flow_state`: every statement is one, so racing exchanges are decided by the row. */
export class PostgresFlowStates implements FlowStateStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
    private readonly spentIdTokens: string,
    /** linkFlowSessionTable: its rows go with their flow's (ON DELETE CASCADE). */
    private readonly linkSessions: string,
    /** pendingLinkTable: its rows go with their flow's (ON DELETE CASCADE). */
    private readonly pendingLinks: string,
    /** GoTrue's users (usersTable): whose ban consumeFlowState judges. */
    private readonly users: string,
  ) {
    this.columns = columns(pendingLinks);
  }

  private readonly columns: string;

  async createFlowState(flow: NewFlowState): Promise<void> {
    // One statement: no linkIdentity flow is kept without the identity its exchange links.
    await this.pool.query(
      `WITH flow AS (
         INSERT INTO ${this.table} (id, user_id, code_challenge, code_challenge_method, authentication_method,
           provider_type, created_at, updated_at, auth_code, auth_code_issued_at, provider_access_token,
           provider_refresh_token)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11) RETURNING id)
       INSERT INTO ${this.pendingLinks} (flow_id, link) SELECT id, $12::text FROM flow WHERE $12::text IS NOT NULL`,
      [
        flow.id,
        flow.userId,
        flow.codeChallenge,
        flow.codeChallengeMethod,
        flow.authenticationMethod,
        flow.providerType,
        flow.createdAt,
        flow.authCodeHash ?? null,
        flow.authCodeIssuedAt ?? null,
        flow.providerAccessToken ?? null,
        flow.providerRefreshToken ?? null,
        flow.pendingLink ?? null,
      ],
    );
  }

  async createOAuthFlow(flow: OAuthFlow): Promise<void> {
    // One statement: no flow is kept without the session a link flow has.
    await this.pool.query(
      `WITH flow AS (
         INSERT INTO ${this.table} (id, code_challenge, code_challenge_method, authentication_method,
           provider_type, referrer, linking_target_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id)
       INSERT INTO ${this.linkSessions} (flow_id, session_id)
         SELECT id, $9::uuid FROM flow WHERE $9::uuid IS NOT NULL`,
      [
        flow.id,
        flow.codeChallenge,
        flow.codeChallengeMethod,
        OAUTH,
        flow.providerType,
        flow.referrer,
        flow.linkingTargetId,
        flow.createdAt,
        flow.linkingSessionId,
      ],
    );
  }

  async takeOAuthFlow(id: string): Promise<OAuthFlow | null> {
    // A state that is no uuid names no flow (and must not reach the cast, an SQL error).
    if (!UUID.test(id)) return null;
    // The statement's snapshot still shows the link's session row its cascade deletes.
    const { rows } = await this.pool.query<OAuthFlowRow>(
      `WITH taken AS (
         DELETE FROM ${this.table} WHERE id = $1 AND user_id IS NULL AND authentication_method = $2
         RETURNING id, provider_type, code_challenge, code_challenge_method::text, referrer,
           linking_target_id::text, created_at)
       SELECT taken.id::text, provider_type, code_challenge, code_challenge_method, referrer,
         linking_target_id, s.session_id::text AS linking_session_id, created_at
       FROM taken LEFT JOIN ${this.linkSessions} s ON s.flow_id = taken.id`,
      [id, OAUTH],
    );
    const row = rows[0];
    if (row === undefined) return null;
    return {
      id: row.id,
      providerType: row.provider_type,
      codeChallenge: row.code_challenge,
      codeChallengeMethod: row.code_challenge_method,
      referrer: row.referrer,
      linkingTargetId: row.linking_target_id,
      linkingSessionId: row.linking_session_id,
      createdAt: row.created_at,
    };
  }

  async issueFlowAuthCode(
    id: string,
    userId: string,
    authCodeHash: string,
    now: Date,
    createdAfter: Date,
  ): Promise<FlowState | null> {
    // An id that is no uuid names no flow here (and must not reach the cast, an SQL error).
    if (!UUID.test(id) || !UUID.test(userId)) return null;
    const { rows } = await this.pool.query<FlowStateRow>(
      `UPDATE ${this.table} SET auth_code = $3, auth_code_issued_at = $4, updated_at = $4
       WHERE id = $1 AND user_id = $2 AND created_at > $5
       RETURNING ${this.columns}`,
      [id, userId, authCodeHash, now, createdAfter],
    );
    return rows[0] ? toFlowState(rows[0]) : null;
  }

  async findFlowStateByAuthCode(authCodeHash: string): Promise<FlowState | null> {
    const { rows } = await this.pool.query<FlowStateRow>(
      `SELECT ${this.columns} FROM ${this.table} WHERE auth_code = $1 LIMIT 1`,
      [authCodeHash],
    );
    return rows[0] ? toFlowState(rows[0]) : null;
  }

  async consumeFlowState(
    id: string,
    authCodeHash: string,
    conditions: FlowSpendConditions = {},
  ): Promise<boolean> {
    if (!UUID.test(id)) return false;
    // One statement: the flow's row locked (a racing exchange waits, then finds none), its user's read
    // locked FOR SHARE when a ban is asked (a ban in flight is waited for, then seen, as the one-time
    // tokens' spend does). A banned user's flow is found and kept.
    const { rows } = await this.pool.query<{ banned: boolean; consumed: boolean }>(
      `WITH found AS (
         SELECT f.id, coalesce($3::timestamptz IS NOT NULL AND u.banned_until > $3, false) AS banned
         FROM ${this.table} f
           LEFT JOIN LATERAL (SELECT u.banned_until FROM ${this.users} u
                              WHERE u.id = f.user_id AND $3::timestamptz IS NOT NULL FOR SHARE) u ON true
         WHERE f.id = $1 AND f.auth_code = $2
         FOR UPDATE OF f
       ), consumed AS (
         DELETE FROM ${this.table} f USING found WHERE f.id = found.id AND NOT found.banned RETURNING f.id
       )
       SELECT found.banned, consumed.id IS NOT NULL AS consumed FROM found LEFT JOIN consumed ON true`,
      [id, authCodeHash, conditions.unlessBannedAt ?? null],
    );
    if (rows[0]?.banned) throw new AuthError('user_banned');
    return rows[0]?.consumed === true;
  }

  async endFlowStatesOf(userId: string, keptFlowId: string | null): Promise<number> {
    // An id that is no uuid names no user's flow (and must not reach the cast, an SQL error).
    if (!UUID.test(userId)) return 0;
    const kept = keptFlowId !== null && UUID.test(keptFlowId) ? keptFlowId : null;
    // Their pending links and link sessions go with them (ON DELETE CASCADE).
    const result = await this.pool.query(
      `DELETE FROM ${this.table} WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2::uuid)`,
      [userId, kept],
    );
    return result.rowCount ?? 0;
  }

  async pruneFlowStates(cutoffs: { issuedBefore: Date; createdBefore: Date }): Promise<number> {
    // GoTrue's rows with a NULL created_at (none restauth writes) are left to it.
    const result = await this.pool.query(
      `DELETE FROM ${this.table}
       WHERE auth_code_issued_at < $1 OR (auth_code_issued_at IS NULL AND created_at < $2)`,
      [cutoffs.issuedBefore, cutoffs.createdBefore],
    );
    return result.rowCount ?? 0;
  }

  async spendIdToken(hash: string, keepUntil: Date): Promise<boolean> {
    // The primary key decides between racing spends: the second insert conflicts and writes nothing.
    const result = await this.pool.query(
      `INSERT INTO ${this.spentIdTokens} (hash, keep_until) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING`,
      [hash, keepUntil],
    );
    return result.rowCount === 1;
  }

  async pruneSpentIdTokens(now: Date): Promise<number> {
    const result = await this.pool.query(`DELETE FROM ${this.spentIdTokens} WHERE keep_until < $1`, [now]);
    return result.rowCount ?? 0;
  }
}

function toFlowState(row: FlowStateRow): FlowState {
  return {
    id: row.id,
    userId: row.user_id,
    authCodeHash: row.auth_code,
    codeChallenge: row.code_challenge,
    codeChallengeMethod: row.code_challenge_method,
    authenticationMethod: row.authentication_method,
    providerType: row.provider_type,
    createdAt: row.created_at,
    authCodeIssuedAt: row.auth_code_issued_at,
    providerAccessToken: row.provider_access_token,
    providerRefreshToken: row.provider_refresh_token,
    pendingLink: row.pending_link,
  };
}
