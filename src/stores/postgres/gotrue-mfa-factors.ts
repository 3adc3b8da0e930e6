import type pg from 'pg';
import type { MfaFactor } from '../../core/ports/store.js';

/** The columns of GoTrue's mfa_factors an administrator sees (never the secret nor WebAuthn's data). */
const COLUMNS =
  'id::text, factor_type::text, status::text, friendly_name, phone, created_at, updated_at, last_challenged_at';

interface FactorRow {
  id: string;
  factor_type: string;
  status: string;
  friendly_name: string | null;
  phone: string | null;
  created_at: Date;
  updated_at: Date;
  last_challenged_at: Date | null;
}

function toFactor(row: FactorRow): MfaFactor {
  return {
    id: row.id,
    factorType: row.factor_type,
    status: row.status,
    friendlyName: row.friendly_name,
    phone: row.phone,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastChallengedAt: row.last_challenged_at,
  };
}

/** The factors of the user `uid` (a UUID), oldest first, as GoTrue's FindFactorsByUser orders them. */
export async function listFactors(pool: pg.Pool, table: string, uid: string): Promise<MfaFactor[]> {
  const { rows } = await pool.query<FactorRow>(
    `SELECT ${COLUMNS} FROM ${table} WHERE user_id = $1::uuid ORDER BY created_at, id`,
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
  uid: string,
  factorId: string,
): Promise<MfaFactor | null> {
  const { rows } = await pool.query<FactorRow>(
    `DELETE FROM ${table} WHERE id = $1::uuid AND user_id = $2::uuid RETURNING ${COLUMNS}`,
    [factorId, uid],
  );
  return rows[0] ? toFactor(rows[0]) : null;
}
