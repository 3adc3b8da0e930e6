import type pg from 'pg';
import { loginKey } from '../../core/identity.js';

interface LoginRow {
  id: number;
  username: string | null;
  username_lowercase: string | null;
  email: string | null;
}

/**
 * Migration 12's step, in JavaScript because the normalisation is core's
 * (identity.ts: NFKC and a case fold that SQL's locale-dependent lower() does
 * not reproduce): every stored user-name key and address becomes its login
 * key. Users whose logins become one are never merged: the migration fails,
 * naming them, and changes nothing until an operator renames one.
 */
export async function normalizeStoredLogins(client: pg.ClientBase, users: string): Promise<void> {
  const { rows } = await client.query<LoginRow>(
    `SELECT id, username, username_lowercase, email FROM ${users} ORDER BY id FOR UPDATE`,
  );
  const collisions: string[] = [];
  const byName = new Map<string, LoginRow>();
  const byEmail = new Map<string, LoginRow>();
  const changed: { row: LoginRow; nameKey: string | null; email: string | null }[] = [];
  const claim = (map: Map<string, LoginRow>, key: string, row: LoginRow, what: string) => {
    const holder = map.get(key);
    if (holder) collisions.push(`users ${holder.id} and ${row.id} share the ${what} "${key}"`);
    else map.set(key, row);
  };
  for (const row of rows) {
    const nameKey = row.username === null ? null : loginKey(row.username);
    const email = row.email === null ? null : loginKey(row.email);
    if (nameKey !== null) claim(byName, nameKey, row, 'user name');
    if (email !== null) claim(byEmail, email, row, 'address');
    if (nameKey !== row.username_lowercase || email !== row.email) changed.push({ row, nameKey, email });
  }
  if (collisions.length > 0) {
    throw new Error(
      `logins must be unique once normalised (trimmed, NFKC, case-folded); rename or remove one user of each pair: ${collisions.join('; ')}`,
    );
  }
  if (changed.length === 0) return;
  const ids = changed.map(({ row }) => row.id);
  // Cleared first: a new key may be the old key of another changed row, and the unique indexes
  // check each row as it is updated.
  await client.query(`UPDATE ${users} SET username_lowercase = NULL, email = NULL WHERE id = ANY($1)`, [ids]);
  await client.query(
    `UPDATE ${users} u SET username_lowercase = c.name_key, email = c.email
     FROM jsonb_to_recordset($1::jsonb) AS c(id integer, name_key text, email text) WHERE u.id = c.id`,
    [JSON.stringify(changed.map(({ row, nameKey, email }) => ({ id: row.id, name_key: nameKey, email })))],
  );
}
