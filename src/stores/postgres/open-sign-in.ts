import type { quotedNames } from './migrations.js';
import {
  capSessionsSql,
  knownClientClause,
  lockedSessionInsertClauses,
  openSignInClauses,
  type OpenGuard,
  type SessionTables,
} from './session-sql.js';
import { ownInstance } from './user-scope.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 36: restauth.open_sign_in, a password sign-in's writes in one call, so a sign-in is two
 * round trips (the user with its hash, then this), where BEGIN, the writes, the cap and COMMIT were
 * four more. Its parameters are openSignInClauses' $1-$15 and $16 the user's cap on sessions
 * (sessions.maxPerUser, 0: none). It answers the user's updated row as JSON, NULL when the user is gone.
 *
 * The cap is a statement of its own after the writes: a VOLATILE function's statements each take a
 * new snapshot (READ COMMITTED), so the cap sees every sign-in of the user that committed while the
 * writes waited for the user's row, as the transaction's next statement did. The call is one
 * statement, so the writes, the cap and the audit event commit together or not at all.
 *
 * Not SECURITY DEFINER: it writes only what its caller may write (and so gives no one anything), and
 * its EXECUTE stays granted to PUBLIC, so a server running as another role than the one that migrated
 * can call it. No SET search_path clause (a call would save and restore settings): every name in it is
 * schema-qualified. The function is the text of this release's clauses: a later change to them is a
 * migration of its own (CREATE OR REPLACE).
 */
export function openSignInFunction(q: Names, t: SessionTables, version: OpeningVersion): string {
  const users = `${q.schema}.users`;
  return writesThenCap(t, version, {
    signature: `${q.restauth}.open_sign_in(uuid, uuid, timestamptz, timestamptz, text, text, text,
        timestamptz, text, timestamptz, text, text, text, text, jsonb, integer)`,
    answer: 'jsonb',
    users,
    writes: `WITH ${openSignInClauses(t, { users, auditLog: `${q.restauth}.audit_log` }, since(version))}
        SELECT to_jsonb(u) INTO opened FROM u`,
    keep: '$16',
    comment: `a password sign-in''s writes (last_sign_in_at, the session, its first refresh token, the audit event) and the session cap, in one call`,
  });
}

/**
 * A function `signature` whose first statement, `writes`, sets `opened` (of type `answer`, NULL when
 * the user $2 is gone) and whose second keeps the user's newest `keep` sessions (0: all), answering
 * `opened`: a VOLATILE function's statements each take a new snapshot, so the cap sees what committed
 * while the writes waited for the user's row.
 */
function writesThenCap(
  t: SessionTables,
  version: OpeningVersion,
  f: { signature: string; answer: string; users: string; writes: string; keep: string; comment: string },
): string {
  return `
    CREATE ${version === 36 ? '' : 'OR REPLACE '}FUNCTION ${f.signature} RETURNS ${f.answer} LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
      opened ${f.answer};
    BEGIN
      ${version >= 52 ? lockUserFirst(f.users, version) : ''}${f.writes};
      IF opened IS NOT NULL AND ${f.keep} > 0 THEN
        ${capSessionsSql(t, '$2', f.keep)};
      END IF;
      RETURN opened;
    END
    $fn$;
    COMMENT ON FUNCTION ${f.signature} IS 'restauth: ${f.comment}';
  `;
}

/**
 * Migration 36 too: restauth.open_session, a session opened any other way (a mailed link or code, a
 * provider, a recovery, a password change) for a user whose sessions are capped, in one call where
 * BEGIN, the insert, the cap and COMMIT were four round trips: insertSessionSql's $1-$7 and $8 the
 * cap (above 0). The insert locks the user's row first (lockedSessionInsertClauses) and the cap is
 * the function's next statement, as in open_sign_in. It answers the user's id, NULL when the user
 * is gone (no session written).
 */
export function openSessionFunction(q: Names, t: SessionTables, version: OpeningVersion): string {
  return writesThenCap(t, version, {
    signature: `${q.restauth}.open_session(uuid, uuid, timestamptz, timestamptz, text, text, text, integer)`,
    answer: 'text',
    users: `${q.schema}.users`,
    writes: `WITH ${lockedSessionInsertClauses(t, `${q.schema}.users`, since(version))}
        SELECT user_id::text INTO opened FROM created`,
    keep: '$8',
    comment:
      'a session (its secret, first refresh token, amr claim) of a user whose sessions are capped, and the cap, in one call',
  });
}

/** The migrations that (re)made open_sign_in and open_session. */
export type OpeningVersion = 36 | 40 | 47 | 52 | 56 | 59;

/**
 * Migration 52's first statement: the user's row `$2` locked (the lock the writes take), so the writes
 * that follow take their snapshot after it. A factor verified by a transaction that held the row (its
 * trigger locks it: gotrue-factors.ts) is then seen by noVerifiedFactor. Before, the writes' snapshot was
 * taken before they waited for the row, READ COMMITTED re-read only the row itself, and the session
 * opened beside a factor verified meanwhile outlived the trigger that should have ended it. Since
 * migration 59 only a user of this instance is locked: another instance's row is not restauth's.
 */
function lockUserFirst(users: string, version: OpeningVersion): string {
  return `PERFORM FROM ${users} WHERE id = $2${version >= 59 ? ` AND ${ownInstance(users)}` : ''} FOR NO KEY UPDATE;
      `;
}

/**
 * Migration 36's functions as it made them; migration 40 replaces both with functions that open no
 * session for a user banned at the session's creation ($3), checked on the row they lock (see
 * NOT_BANNED_AT_START in session-sql.ts): a ban committed after the caller's read stops it.
 * Migration 47 replaces them again with functions that also open none for a user with a verified
 * MFA factor (noVerifiedFactor in session-sql.ts); migration 52 with the user's row locked first;
 * migration 56 with none for a soft-deleted user either (gotrue-deleted-users.ts); migration 59 with
 * none for a user of another GoTrue instance (user-scope.ts).
 */
function since(version: OpeningVersion): OpenGuard {
  if (version === 36) return 'since migration 36';
  if (version === 40) return 'unless banned';
  if (version === 59) return 'unless banned, MFA, deleted or of another instance';
  return version === 56 ? 'unless banned, MFA or deleted' : 'unless banned or MFA';
}

/**
 * Store.createSession's statement: open_session's $1-$8, answering user_id. With $9 (a key, until
 * $10) the client is remembered as the user's known one in `rateLimits`, as openSignInCallSql does.
 */
export function openSessionCallSql(q: Names, rateLimits: string): string {
  return `WITH opened AS MATERIALIZED (
      SELECT ${q.restauth}.open_session($1, $2, $3, $4, $5, $6, $7, $8) AS row
    ), ${knownClientClause(rateLimits, `SELECT $9::text, $10::timestamptz, 1 FROM opened WHERE opened.row IS NOT NULL AND $9::text IS NOT NULL`)}
    SELECT opened.row AS user_id FROM opened`;
}

/**
 * Store.openSignIn's statement: open_sign_in's $1-$16, answering `userColumns` of the user and its
 * account. The function answers the user's row as JSON, made a row of `users` again here: a function
 * returning the table's row type would depend on it, and serving a schema GoTrue made replaces
 * restauth's copy of the table with GoTrue's (gotrue-adopt.ts), which that dependency forbids.
 * With $17 (a key, until $18) the client is remembered as the user's known one in the rate-limit
 * table, in the same statement (the guess limit: account-guess-limit.ts), once the sign-in opened,
 * if the row's password is still $19, the hash the sign-in verified; the row's password is answered
 * (`password_hash`) for PostgresStore.openSignIn to refuse a sign-in whose password was replaced.
 */
export function openSignInCallSql(
  q: Names,
  tables: { accounts: string; rateLimits: string },
  userColumns: string,
): string {
  return `WITH opened AS MATERIALIZED (
      SELECT ${q.restauth}.open_sign_in($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) AS row
    ), ${knownClientClause(
      tables.rateLimits,
      // Not for a sign-in whose password was replaced since it was verified ($19, Store.openSignIn).
      `SELECT $17::text, $18::timestamptz, 1 FROM opened
        WHERE opened.row IS NOT NULL AND $17::text IS NOT NULL AND opened.row->>'encrypted_password' = $19::text`,
    )}
    SELECT ${userColumns}, u.encrypted_password AS password_hash
    FROM opened, jsonb_populate_record(NULL::${q.schema}.users, opened.row) u
    JOIN ${tables.accounts} a ON a.uid = u.id`;
}
