import { Buffer } from 'node:buffer';
import pg from 'pg';
import { AuthError } from '../../core/errors.js';

/**
 * postgrest-auth's role per user (roles.perUser): each user gets a database
 * role of its own, which its tokens name and PostgREST switches to. A role is
 * a grant of power, so restauth only ever hands out a role it created, in the
 * same transaction, for that very user, and records it in `user_roles`
 * (migration 10). A name that is already a role, or that PostgreSQL would
 * truncate or refuse, is a clear 400; deleting the user drops its role.
 */

/** PostgreSQL keeps 63 bytes of a name and silently drops the rest: longer names would share one role. */
const MAX_ROLE_NAME_BYTES = 63;
/** Names CREATE ROLE refuses (42939 reserved_name): `pg_...`, `public`, `none`. */
const RESERVED = /^pg_|^(public|none)$/;

/** Refuses a name that cannot be a role of its own: too long, reserved, or with a NUL. */
export function checkRoleName(role: string): void {
  if (Buffer.byteLength(role, 'utf8') > MAX_ROLE_NAME_BYTES || role.length === 0 || role.includes('\0')) {
    throw new AuthError(
      'validation_failed',
      `This user name cannot name a database role: at most ${MAX_ROLE_NAME_BYTES} bytes`,
    );
  }
  if (RESERVED.test(role)) {
    throw new AuthError('validation_failed', 'This user name cannot name a database role: it is reserved');
  }
}

function notFree(): AuthError {
  return new AuthError(
    'validation_failed',
    'This user name cannot name a database role: a role of that name already exists',
  );
}

export interface RoleNames {
  /** The user_roles table, quoted. */
  table: string;
  /** Roles each user role belongs to (the authenticated and anonymous roles), quoted. */
  memberOf: string[];
  /** PostgREST's login role, granted each user role so it may switch to it; null: not managed. */
  authenticator: string | null;
}

/**
 * Creates `role` for the user whose serial key is `userKey`, inside the
 * caller's transaction. An existing role of that name, whoever made it (a
 * DBA, another database's restauth, a deleted user's role that could not be
 * dropped), is refused: never handed out.
 */
export async function createUserRole(
  client: pg.PoolClient,
  names: RoleNames,
  role: string,
  userKey: number,
): Promise<void> {
  checkRoleName(role);
  const existing = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (existing.rowCount !== 0) throw notFree();
  const quoted = pg.escapeIdentifier(role);
  try {
    await client.query(`CREATE ROLE ${quoted} NOLOGIN IN ROLE ${names.memberOf.join(', ')}`);
  } catch (error) {
    // Roles are cluster-wide: another database's instance created the same name meanwhile.
    const code = (error as { code?: string }).code;
    if (code === '23505' || code === '42710') throw notFree();
    throw error;
  }
  if (names.authenticator) await client.query(`GRANT ${quoted} TO ${names.authenticator}`);
  await client.query(`INSERT INTO ${names.table} (role, user_id) VALUES ($1, $2)`, [role, userKey]);
}

/**
 * Drops the role of a user being deleted, inside the caller's transaction.
 * A role that still owns objects or holds privileges (a DBA granted it some)
 * cannot be dropped: it is disabled instead — no role is a member of it any
 * more, so PostgREST cannot switch to it — and stays, so its name is never
 * free again; a DBA may drop it after reassigning what it holds.
 */
export async function dropUserRole(client: pg.PoolClient, role: string): Promise<'dropped' | 'disabled'> {
  const quoted = pg.escapeIdentifier(role);
  await client.query('SAVEPOINT drop_user_role');
  try {
    await client.query(`DROP ROLE IF EXISTS ${quoted}`);
    await client.query('RELEASE SAVEPOINT drop_user_role');
    return 'dropped';
  } catch (error) {
    if ((error as { code?: string }).code !== '2BP01') throw error; // dependent_objects_still_exist
    await client.query('ROLLBACK TO SAVEPOINT drop_user_role');
  }
  const members = await client.query<{ member: string }>(
    `SELECT m.rolname AS member FROM pg_auth_members a
       JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
     WHERE r.rolname = $1`,
    [role],
  );
  for (const { member } of members.rows) {
    await client.query(`REVOKE ${quoted} FROM ${pg.escapeIdentifier(member)}`);
  }
  await client.query(`ALTER ROLE ${quoted} NOLOGIN`);
  return 'disabled';
}
