import type { quotedNames } from './migrations.js';
import { ownInstance } from './user-scope.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * The tables of restauth's sessions (migration 17). GoTrue's `sessions` and `refresh_tokens` in the
 * auth schema; in restauth's schema what GoTrue has no column for: `session_secrets` (the key each
 * session derives its successor tokens from), `session_ends` (an ended session: GoTrue deletes it,
 * and so does restauth, keeping when and why for the answer to a later refresh, until the retention
 * prunes it) and `session_end_tokens` (the refresh-token hashes it had, so that answer is "signed
 * out", not "unknown token").
 */
export function sessionTables(names: Names) {
  return {
    sessions: `${names.schema}.sessions`,
    refreshTokens: `${names.schema}.refresh_tokens`,
    secrets: `${names.restauth}.session_secrets`,
    ends: `${names.restauth}.session_ends`,
    endTokens: `${names.restauth}.session_end_tokens`,
    /** Rotations whose answer was lost, which a retry on any instance may claim (migration 65). */
    unanswered: `${names.restauth}.unanswered_refreshes`,
    amrClaims: `${names.schema}.mfa_amr_claims`,
    /** GoTrue's MFA factors (migration 18 creates the table where GoTrue did not). */
    factors: `${names.schema}.mfa_factors`,
    /** GoTrue's identities: a refresh's answer lists its user's (refreshedIdentitiesOf). */
    identities: `${names.schema}.identities`,
  };
}

export type SessionTables = ReturnType<typeof sessionTables>;

/**
 * restauth.session_secrets.chain (migration 28): how a session's successor tokens derive. 1: HMAC(its
 * refresh_secret, presented token), every session made before migration 28 and every GoTrue session
 * converted; 2: HMAC(the server's successor key, presented token), every session restauth makes since.
 */
export const SESSION_SECRET_CHAIN = 1;
export const SERVER_KEY_CHAIN = 2;

/**
 * Migration 28: the chain column, 1 for every session there is (their tokens go on deriving from their
 * secrets: no session breaks at the upgrade), and its default, so a row another writer adds (a
 * GoTrue session converted at its first refresh) is a secret chain too. restauth's own sessions are
 * written with 2 (sessionInsertClauses).
 */
export function successorChains(t: SessionTables): string {
  return `
    ALTER TABLE ${t.secrets} ADD COLUMN chain smallint NOT NULL DEFAULT ${SESSION_SECRET_CHAIN}
      CHECK (chain IN (${SESSION_SECRET_CHAIN}, ${SERVER_KEY_CHAIN}));
    COMMENT ON COLUMN ${t.secrets}.chain IS
      'restauth: how successor refresh tokens derive: 1 HMAC(refresh_secret, token), 2 HMAC(a server key never stored here, token)';
  `;
}

/**
 * GoTrue leaves not_after NULL when no time box is configured: the session has no absolute end. The
 * Store's Session has one, so such a session reads as ending at the end of year 9999.
 */
export const NO_TIME_BOX = `'9999-12-31T23:59:59Z'::timestamptz`;

/**
 * A session's last refresh: GoTrue's refreshed_at is a timestamp without time zone in UTC, NULL until
 * the first refresh (GoTrue then counts from the session's update or creation), as a timestamptz.
 */
export const REFRESHED_AT = `coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.updated_at, s.created_at)`;

/**
 * A live session `s` of auth.sessions with its secret `k` (LEFT JOINed where a session GoTrue made,
 * without one, is shown: its secret reads '', and no token of it is ever found by findRefreshToken).
 */
export const LIVE_SESSION_COLUMNS = `s.id::text AS id, s.user_id::text AS user_id, s.created_at,
  ${REFRESHED_AT} AS refreshed_at, coalesce(s.not_after, ${NO_TIME_BOX}) AS not_after,
  NULL::timestamptz AS revoked_at, NULL::text AS revoked_reason, coalesce(k.refresh_secret, '') AS refresh_secret,
  coalesce(k.chain, 1)::int AS chain`;

/**
 * The amr claims (GoTrue's auth.mfa_amr_claims: how the session `s` was authenticated, oldest first) as a
 * JSON array of {method, at}, the column `amr` beside LIVE_SESSION_COLUMNS; GoTrue dates a claim by its
 * updated_at. An ended session's are gone with it (ENDED_SESSION_AMR): nothing refreshes it.
 */
export function liveSessionAmr(t: SessionTables): string {
  return `coalesce((SELECT jsonb_agg(jsonb_build_object('method', c.authentication_method, 'at', c.updated_at)
      ORDER BY c.updated_at, c.authentication_method) FROM ${t.amrClaims} c WHERE c.session_id = s.id), '[]'::jsonb) AS amr`;
}
export const ENDED_SESSION_AMR = `'[]'::jsonb AS amr`;

/** An ended session `e` of restauth.session_ends: its secret is gone with it (nothing refreshes it). */
export const ENDED_SESSION_COLUMNS = `e.id::text AS id, e.user_id::text AS user_id, e.created_at, e.refreshed_at,
  e.not_after, e.ended_at AS revoked_at, e.reason AS revoked_reason, '' AS refresh_secret, 1 AS chain`;

/**
 * The condition on a user's row that no session opens for a user banned at the session's creation
 * ($3): in the statement that locks (or updates) the row, so a ban committed after the caller read the
 * user is seen (READ COMMITTED re-reads a row it waited for), and one committed after the session's
 * insert waits for it, then ends it with the user's other sessions.
 */
const NOT_BANNED_AT_START = '(banned_until IS NULL OR banned_until <= $3)';

/**
 * True when the user `user` (a uuid expression) has no verified MFA factor in GoTrue's mfa_factors.
 * GoTrue made such a user step up to aal2 with the factor; restauth has no MFA, so it opens and
 * refreshes no session of theirs at all (docs/postgres-schema.md): a password (or a mailed link, a
 * provider...) alone would otherwise do what GoTrue asked two factors for. An unverified factor (an
 * enrollment never finished) never raised a session's level, so it does not count. The status is
 * compared as text: GoTrue's enum and a text column read alike.
 */
export function noVerifiedFactor(t: SessionTables, user: string): string {
  return `NOT EXISTS (SELECT FROM ${t.factors} mf WHERE mf.user_id = ${user} AND mf.status::text = 'verified')`;
}

/**
 * Which users a session-opening statement refuses, by the migration that made it: migration 36's
 * functions none, migration 40's banned users, migration 47's banned users and users with a verified
 * MFA factor too (the rule of the store's own insert for a user it has just created), since
 * migration 56 soft-deleted users (deleted_at set) too, and since migration 59 users of another GoTrue
 * instance (ownInstance), whom findUserById does not find either.
 */
export type OpenGuard =
  | 'since migration 36'
  | 'unless banned'
  | 'unless banned or MFA'
  | 'unless banned, MFA or deleted'
  | 'unless banned, MFA, deleted or of another instance';

/** `guard` as a condition ANDed onto the WHERE selecting the user's row `$2` of the table `users`. */
function guardCondition(t: SessionTables, users: string, guard: OpenGuard): string {
  if (guard === 'since migration 36') return '';
  const banned = ` AND ${NOT_BANNED_AT_START}`;
  if (guard === 'unless banned') return banned;
  const mfa = `${banned} AND ${noVerifiedFactor(t, `${users}.id`)}`;
  // Checked on the row the statement locks, as the ban: a soft delete committed meanwhile is seen.
  if (guard === 'unless banned or MFA') return mfa;
  const deleted = `${mfa} AND deleted_at IS NULL`;
  return guard === 'unless banned, MFA or deleted' ? deleted : `${deleted} AND ${ownInstance(users)}`;
}

/**
 * A session and its first refresh token, as one statement: $1 the session id, $2 the user's uuid,
 * $3 the creation date, $4 its end, $5 its secret, $6 the first token's hash, $7 the method that
 * authenticated it (GoTrue's amr claim in auth.mfa_amr_claims; NULL: none). Returns id and user_id;
 * nothing for a user of `users` gone, banned at $3 (the row is locked: see NOT_BANNED_AT_START) or
 * with a verified MFA factor (noVerifiedFactor). With $8 (a key prefix, until $9) the client is
 * remembered in `rateLimits` as the user's known one (the guess limit), its key $8 and the user's id.
 */
export function insertSessionSql(t: SessionTables, users: string, rateLimits: string): string {
  return `WITH u AS (
      SELECT id FROM ${users} WHERE id = $2${guardCondition(t, users, 'unless banned or MFA')} FOR SHARE
    ), ${sessionInsertClauses(t, `SELECT $1, u.id, $3, $3, 'aal1', $4, $3::timestamptz AT TIME ZONE 'UTC' FROM u`)},
    ${knownClientClause(rateLimits, `SELECT $8::text || created.user_id::text, $9::timestamptz, 1 FROM created WHERE $8::text IS NOT NULL`)}
    SELECT id::text AS id, user_id::text AS user_id FROM created`;
}

/**
 * The CTE `known` that remembers a client as a user's known one (the guess limit's exemption,
 * account-guess-limit.ts) in `rateLimits`: `rows` selects its key, the end of its window and 1,
 * nothing when no session opened or no client is to be remembered.
 */
export function knownClientClause(rateLimits: string, rows: string): string {
  return `known AS (
      INSERT INTO ${rateLimits} AS w (key, reset_at, count)
      ${rows}
      ON CONFLICT (key) DO UPDATE SET reset_at = EXCLUDED.reset_at, count = 1
    )`;
}

/**
 * insertSessionSql's writes as WITH clauses for a user whose sessions are capped (sessions.maxPerUser;
 * migration 36's open_session runs them, then capSessionsSql): the user's row `$2` of `users` is
 * locked first (FOR NO KEY UPDATE, the lock open_sign_in's UPDATE takes), so every session insert of
 * one user waits for the transaction of the one before it, which applies its cap before committing.
 * Without it, a session inserted beside a sign-in whose session was not committed yet capped against
 * a snapshot missing that session, and both were kept. A user deleted meanwhile gets no session, and
 * `created` is empty.
 */
export function lockedSessionInsertClauses(t: SessionTables, users: string, guard: OpenGuard): string {
  return `u AS (
      SELECT id FROM ${users} WHERE id = $2${guardCondition(t, users, guard)} FOR NO KEY UPDATE
    ), ${sessionInsertClauses(t, `SELECT $1, u.id, $3, $3, 'aal1', $4, $3::timestamptz AT TIME ZONE 'UTC' FROM u`)}`;
}

/**
 * The WITH clauses writing a session (insertSessionSql's parameters $1-$7): `created` inserts the row
 * `source` gives (VALUES or a SELECT of the columns id, user_id, created_at, updated_at, aal,
 * not_after, refreshed_at) and returns its id and user_id; its secret, first token and amr claim
 * follow it.
 */
function sessionInsertClauses(t: SessionTables, source: string): string {
  return `created AS (
      INSERT INTO ${t.sessions} (id, user_id, created_at, updated_at, aal, not_after, refreshed_at)
      ${source}
      RETURNING id, user_id
    ), secret AS (
      INSERT INTO ${t.secrets} (session_id, refresh_secret, chain) SELECT id, $5, ${SERVER_KEY_CHAIN} FROM created
    ), token AS (
      INSERT INTO ${t.refreshTokens} (instance_id, token, user_id, revoked, session_id, created_at, updated_at)
      SELECT '00000000-0000-0000-0000-000000000000', $6, user_id::text, false, id, $3, $3 FROM created
    ), amr AS (
      INSERT INTO ${t.amrClaims} (id, session_id, created_at, updated_at, authentication_method)
      SELECT gen_random_uuid(), id, $3, $3, $7::text FROM created WHERE $7::text IS NOT NULL
    )`;
}

/**
 * A password sign-in's writes as WITH clauses (migration 36's open_sign_in runs them): insertSessionSql's
 * $1-$7, then $8 the user's last_sign_in_at, and the audit event ($9 its id, NULL for none, $10 at, $11
 * action, $12 actor, $13 user, $14 ip, $15 data). The user's row is updated first (`u`: updateUser's
 * last_sign_in_at and updated_at), and everything else is written only when it exists: a user deleted
 * meanwhile gets no session, and `u` is empty. The user's cap on sessions is not applied here but by
 * capSessionsSql in a statement after it: this statement's snapshot is taken before it waits for the
 * user's row, so it would not see the sessions of sign-ins that committed meanwhile, and racing
 * sign-ins would each keep theirs (test/security/session-cap-race.test.ts).
 */
export function openSignInClauses(
  t: SessionTables,
  tables: { users: string; auditLog: string },
  guard: OpenGuard,
): string {
  return `u AS (
      UPDATE ${tables.users} SET last_sign_in_at = $8, updated_at = now() WHERE id = $2${guardCondition(t, tables.users, guard)} RETURNING *
    ), ${sessionInsertClauses(t, `SELECT $1, u.id, $3, $3, 'aal1', $4, $3::timestamptz AT TIME ZONE 'UTC' FROM u`)},
    audited AS (
      INSERT INTO ${tables.auditLog} (id, at, action, actor_id, user_id, ip, data)
      SELECT $9::text, $10::timestamptz, $11::text, $12::text, $13::text, $14::text, $15::jsonb
      FROM u WHERE $9::text IS NOT NULL
    )`;
}

/**
 * The user $1's sessions beyond the newest $2 (sessions.maxPerUser) deleted (or the parameters `user`
 * and `keep` name), with their refresh tokens
 * (ON DELETE CASCADE): run after the new session's insert, in its transaction, which holds the user's
 * row (open_sign_in updated it, open_session locked it), so racing sign-ins of one user apply their caps one after another,
 * each seeing the sessions of those before it.
 */
export function capSessionsSql(t: SessionTables, user = '$1', keep = '$2'): string {
  return `DELETE FROM ${t.sessions} WHERE id IN (
    SELECT id FROM ${t.sessions} WHERE user_id = ${user} ORDER BY created_at DESC, id OFFSET ${keep})`;
}

/**
 * The WITH clauses that end the sessions `s` matching `where`, as GoTrue ends one: deleted from
 * auth.sessions (their refresh tokens and secrets go by ON DELETE CASCADE), with when (`at`) and why
 * (`reason`) kept in restauth.session_ends and their token hashes in session_end_tokens. Every clause
 * reads the statement's snapshot, so the tokens the cascade deletes are still there to copy.
 * `ended` returns the ended sessions' ids.
 */
export function endSessionsClauses(t: SessionTables, where: string, at: string, reason: string): string {
  return `ended AS (
      DELETE FROM ${t.sessions} s WHERE ${where}
      RETURNING s.id, s.user_id, s.created_at, ${REFRESHED_AT} AS refreshed_at,
        coalesce(s.not_after, ${NO_TIME_BOX}) AS not_after
    ), ended_kept AS (
      INSERT INTO ${t.ends} (id, user_id, created_at, refreshed_at, not_after, ended_at, reason)
      SELECT id, user_id, coalesce(created_at, ${at}), coalesce(refreshed_at, ${at}), not_after, ${at}, ${reason}
      FROM ended
    ), ended_tokens_kept AS (
      INSERT INTO ${t.endTokens} (token, session_id, created_at, rotated_at)
      SELECT r.token, r.session_id, coalesce(r.created_at, ${at}), CASE WHEN r.revoked THEN r.updated_at END
      FROM ${t.refreshTokens} r JOIN ended ON ended.id = r.session_id WHERE r.token IS NOT NULL
    )`;
}
