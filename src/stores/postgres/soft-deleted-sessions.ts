import type pg from 'pg';
import { quotedNames, type SchemaNames } from './migrations.js';

/**
 * `restauth doctor`'s look for soft-deleted users who still hold sessions. Migration 56's trigger ends
 * a user's sessions when deleted_at is set, but a write with session_replication_role = replica
 * (pg_restore, logical replication's apply) fires no trigger. restauth's refresh and GET /user refuse
 * such sessions (they read deleted_at on the user row they read anyway); PostgreSQL's pre-request, which
 * reads a per-session copy the triggers keep, lets their access tokens through until they expire.
 * Null when there is none; else what to do.
 */
export async function softDeletedSessionsProblem(pool: pg.Pool, names: SchemaNames): Promise<string | null> {
  const { schema } = quotedNames(names);
  const { rows } = await pool.query<{ users: number; sessions: number }>(
    `SELECT count(DISTINCT s.user_id)::int AS users, count(*)::int AS sessions
     FROM ${schema}.sessions s JOIN ${schema}.users u ON u.id = s.user_id WHERE u.deleted_at IS NOT NULL`,
  );
  const { users, sessions } = rows[0]!;
  if (sessions === 0) return null;
  return (
    `${sessions} session${sessions === 1 ? '' : 's'} of ${users} soft-deleted user${users === 1 ? '' : 's'} ` +
    '(deleted_at written where no trigger fired: pg_restore, logical replication): refresh and GET /user ' +
    "refuse them, PostgREST's pre-request does not until their access tokens expire; end them with " +
    '`restauth users sign-out <id>` for each user'
  );
}
