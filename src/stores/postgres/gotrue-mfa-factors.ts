import type pg from 'pg';
import { AuthError } from '../../core/errors.js';
import type { MfaFactor, MfaFactorChange } from '../../core/ports/store.js';
import { rowDate, unsetTime, type RowTimestamp } from './row-values.js';
import { ofOwnUser } from './user-scope.js';

/** The columns of GoTrue's mfa_factors an administrator sees (never the secret nor WebAuthn's data). */
const COLUMNS =
  'id::text, factor_type::text, status::text, friendly_name, phone, created_at, updated_at, last_challenged_at';

interface FactorRow {
  id: string;
  factor_type: string;
  status: string;
  friendly_name: string | null;
  phone: string | null;
  created_at: RowTimestamp;
  updated_at: RowTimestamp;
  last_challenged_at: RowTimestamp;
}

function toFactor(row: FactorRow): MfaFactor {
  return {
    id: row.id,
    factorType: row.factor_type,
    status: row.status,
    friendlyName: row.friendly_name,
    phone: row.phone,
    createdAt: rowDate(row.created_at) ?? unsetTime(),
    updatedAt: rowDate(row.updated_at) ?? unsetTime(),
    lastChallengedAt: rowDate(row.last_challenged_at),
  };
}

/**
 * A lateral subquery giving `factors`, the factors of the user `u` as a JSON array in listFactors'
 * columns and order (NULL when none), to fold into a user lookup: one statement, not two.
 */
export function factorsLateral(table: string): string {
  return `LEFT JOIN LATERAL (
      SELECT json_agg(json_build_object('id', f.id::text, 'factor_type', f.factor_type::text,
        'status', f.status::text, 'friendly_name', f.friendly_name, 'phone', f.phone,
        'created_at', f.created_at, 'updated_at', f.updated_at, 'last_challenged_at', f.last_challenged_at)
        ORDER BY f.created_at, f.id) AS factors
      FROM ${table} f WHERE f.user_id = u.id
    ) factors ON true`;
}

/** The `factors` column factorsLateral adds, as listFactors answers them. */
export function factorsOfColumn(column: unknown): MfaFactor[] {
  return Array.isArray(column) ? (column as FactorRow[]).map(toFactor) : [];
}

/** The factors of the user `uid` (a UUID), oldest first, as GoTrue's FindFactorsByUser orders them. */
export async function listFactors(
  pool: pg.Pool,
  table: string,
  users: string,
  uid: string,
): Promise<MfaFactor[]> {
  const { rows } = await pool.query<FactorRow>(
    `SELECT ${COLUMNS} FROM ${table} f WHERE f.user_id = $1::uuid AND ${ofOwnUser(users, 'f.user_id')}
     ORDER BY f.created_at, f.id`,
    [uid],
  );
  return rows.map(toFactor);
}

/**
 * Deletes the factor `factorId` of the user `uid` (both UUIDs), its challenges with it (ON DELETE
 * CASCADE). Another user's factor is not found: the route names the user.
 */
export async function deleteFactor(
  pool: pg.Pool,
  table: string,
  users: string,
  uid: string,
  factorId: string,
): Promise<MfaFactor | null> {
  const { rows } = await pool.query<FactorRow>(
    `DELETE FROM ${table} f WHERE f.id = $1::uuid AND f.user_id = $2::uuid AND ${ofOwnUser(users, 'f.user_id')}
     RETURNING ${COLUMNS}`,
    [factorId, uid],
  );
  return rows[0] ? toFactor(rows[0]) : null;
}

/**
 * Changes the factor `factorId` of the user `uid` (both UUIDs), as GoTrue's adminUserUpdateFactor: the
 * friendly name when given, the phone when given and it is a phone factor. Another user's factor is not
 * found. A name (or phone) another factor of the user has breaks GoTrue's unique index: a 422, not a 500.
 */
export async function updateFactor(
  pool: pg.Pool,
  table: string,
  users: string,
  uid: string,
  factorId: string,
  change: MfaFactorChange,
  now: Date,
): Promise<MfaFactor | null> {
  try {
    const { rows } = await pool.query<FactorRow>(
      `UPDATE ${table} SET friendly_name = coalesce($3, friendly_name),
         phone = CASE WHEN factor_type = 'phone' THEN coalesce($4, phone) ELSE phone END,
         updated_at = $5
       WHERE id = $1::uuid AND user_id = $2::uuid AND ${ofOwnUser(users, `${table}.user_id`)} RETURNING ${COLUMNS}`,
      [factorId, uid, change.friendlyName, change.phone, now],
    );
    return rows[0] ? toFactor(rows[0]) : null;
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    throw (error as { constraint?: string }).constraint === 'unique_phone_factor_per_user'
      ? new AuthError('validation_failed', 'Another factor of this user has this phone', { status: 422 })
      : new AuthError('mfa_factor_name_conflict');
  }
}
