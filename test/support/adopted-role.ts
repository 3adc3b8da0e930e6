import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { testRoles } from './postgres.js';

/**
 * Makes `userId`'s role one postgrest-auth handed out and restauth adopted: a NOLOGIN role in the
 * authenticated role (named uniquely: roles are cluster-wide, and test databases share a cluster),
 * the user's role in auth.users, recorded in restauth.user_roles. Its tokens say the role and a count,
 * no sub and no session; PostgREST runs their requests as that role. Answers the role and the
 * account's number.
 */
export async function adoptedRole(
  pool: pg.Pool,
  userId: string,
  prefix: string,
): Promise<{ role: string; account: number }> {
  const { rows } = await pool.query<{ id: number }>('SELECT id FROM restauth.accounts WHERE uid = $1', [
    userId,
  ]);
  const account = rows[0]!.id;
  const role = `${prefix}_${account}_${randomBytes(3).toString('hex')}`;
  await pool.query(`CREATE ROLE ${role} NOLOGIN IN ROLE ${testRoles.authenticated}`);
  await pool.query('UPDATE auth.users SET role = $1 WHERE id = $2', [role, userId]);
  await pool.query('INSERT INTO restauth.user_roles (role, user_id, adopted) VALUES ($1, $2, true)', [
    role,
    account,
  ]);
  return { role, account };
}
