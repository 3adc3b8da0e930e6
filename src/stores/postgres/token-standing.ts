import type { TokenStanding } from '../../core/ports/store.js';
import { rowDate, unsetTime, type RowTimestamp } from './row-values.js';
import { NO_TIME_BOX, type SessionTables } from './session-sql.js';

/**
 * Store.findTokenStanding on PostgreSQL: what an access token's check reads of its session and user
 * (AuthService.authorize, on every authenticated request), in one statement of primary-key lookups,
 * where findSession and findUserById made two round trips and read whole rows (the session's secret
 * and amr claims, the user's metadata) that the check never looks at.
 *
 * The session as findSession finds it: live in auth.sessions (not revoked; GoTrue's NULL not_after is
 * no time box), else ended in restauth.session_ends (revoked when it ended). The user as findUserById
 * finds it: a user with its account, by uuid, or by the account's serial id for the access tokens
 * issued before migration 6 (`$2` is then that number). Either side is NULL when not found: `$1` or
 * `$2` NULL (not a uuid) finds nothing, as those methods answer null without a query.
 */
export function tokenStandingSql(t: SessionTables, userFrom: string, userBySerial: boolean): string {
  return `SELECT s.user_id AS session_user_id, s.not_after, s.revoked_at,
      u.id AS user_id, u.username, u.email, u.banned_until, u.token_count, u.aud, u.is_anonymous
    FROM (SELECT) one
    LEFT JOIN LATERAL (
      SELECT s.user_id::text AS user_id, coalesce(s.not_after, ${NO_TIME_BOX}) AS not_after,
        NULL::timestamptz AS revoked_at
      FROM ${t.sessions} s WHERE s.id = $1::uuid
      UNION ALL
      SELECT e.user_id::text, e.not_after, e.ended_at FROM ${t.ends} e WHERE e.id = $1::uuid
      LIMIT 1
    ) s ON true
    LEFT JOIN LATERAL (
      SELECT u.id::text AS id, a.username, u.email, u.banned_until, a.token_count, u.aud, u.is_anonymous
      FROM ${userFrom} WHERE ${userBySerial ? 'a.id = $2::bigint' : 'u.id = $2::uuid'}
    ) u ON true`;
}

export interface TokenStandingRow {
  session_user_id: string | null;
  not_after: RowTimestamp;
  revoked_at: RowTimestamp;
  user_id: string | null;
  username: string | null;
  email: string | null;
  banned_until: RowTimestamp;
  token_count: number | null;
  aud: string | null;
  is_anonymous: boolean | null;
}

export function toTokenStanding(row: TokenStandingRow): TokenStanding {
  return {
    session:
      row.session_user_id === null
        ? null
        : {
            userId: row.session_user_id,
            // Never NULL (coalesced to NO_TIME_BOX); 'infinity' a DBA may write reads as the last date.
            notAfter: rowDate(row.not_after) ?? unsetTime(),
            revokedAt: rowDate(row.revoked_at),
          },
    user:
      row.user_id === null
        ? null
        : {
            id: row.user_id,
            username: row.username,
            email: row.email,
            bannedUntil: rowDate(row.banned_until),
            tokenVersion: row.token_count!,
            aud: row.aud,
            isAnonymous: row.is_anonymous === true,
          },
  };
}
