import type pg from 'pg';

/**
 * Writes a session by SQL as restauth wrote one before migration 28 (no `chain` column, which
 * today's store writes: read back, it is chain 1, its successors under its secret), for a test of
 * an upgrade: the session row, its secret and, when `firstTokenHash` is given, its first refresh
 * token. Works on a database migrated through any version from 17 (restauth's session tables) on.
 */
export async function insertSessionFromBefore(
  pool: pg.Pool,
  session: { id: string; userId: string; notAfter: Date; secret: string; firstTokenHash?: string },
): Promise<void> {
  await pool.query(
    `WITH s AS (
       INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after, refreshed_at)
       VALUES ($1, $2, now(), now(), 'aal1', $3, now() AT TIME ZONE 'UTC') RETURNING id
     ), k AS (
       INSERT INTO restauth.session_secrets (session_id, refresh_secret) SELECT id, $4 FROM s
     )
     INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, session_id, created_at, updated_at)
     SELECT '00000000-0000-0000-0000-000000000000', $5::text, $2::text, false, id, now(), now() FROM s
     WHERE $5::text IS NOT NULL`,
    [session.id, session.userId, session.notAfter, session.secret, session.firstTokenHash ?? null],
  );
}

/**
 * Writes a user by SQL as restauth wrote one before the latest migrations (today's store writes
 * columns a test's earlier version lacks, as migration 37's username_skeleton), for a test of an
 * upgrade: its auth.users row (role, aud) and its restauth.accounts row. Works on a database migrated
 * through any version from 14 (GoTrue's auth.users) on.
 */
export async function insertUserFromBefore(
  pool: pg.Pool,
  user: { username: string; role: string; aud?: string },
): Promise<{ id: string }> {
  const { rows } = await pool.query<{ id: string }>(
    `WITH u AS (
       INSERT INTO auth.users (instance_id, id, aud, role, created_at, updated_at)
         VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $2, $3, now(), now()) RETURNING id
     )
     INSERT INTO restauth.accounts (uid, username, username_lowercase)
       SELECT id, $1, lower($1) FROM u RETURNING uid::text AS id`,
    [user.username, user.aud ?? 'authenticated', user.role],
  );
  return rows[0]!;
}
