import type pg from 'pg';
import { nameSkeleton } from '../../core/skeleton.js';
import { inTransaction } from './pool.js';

/**
 * Migration 37: each account's user name gets its skeleton (core/skeleton.ts)
 * in `username_skeleton`, unique, so a look-alike of a user's name is refused
 * as the name itself is (23505, user_already_exists), also between instances
 * racing. Computed here, not in SQL: confusables.txt is core's data. The
 * partial index finds the names still without one at each start.
 */
export function nameSkeletonsSql(accounts: string): string {
  return `
    ALTER TABLE ${accounts} ADD COLUMN username_skeleton text;
    CREATE UNIQUE INDEX accounts_username_skeleton ON ${accounts} (username_skeleton);
    CREATE INDEX accounts_username_without_skeleton ON ${accounts} (id)
      WHERE username IS NOT NULL AND username_skeleton IS NULL;
  `;
}

/**
 * Migration 41: the rule of core/skeleton.ts changed (confusables.txt 17.0.0, ASCII names apart,
 * compared as shown and case-insensitively), so every stored skeleton is computed again: cleared
 * here, filled by fillNameSkeletons in the same transaction, the oldest account of look-alikes first.
 */
export function recomputeNameSkeletonsSql(accounts: string): string {
  return `UPDATE ${accounts} SET username_skeleton = NULL WHERE username_skeleton IS NOT NULL;`;
}

interface NamedAccount {
  id: number;
  username: string;
}

/**
 * Gives the names without a skeleton theirs: every name at migration 37, and
 * at each start the names SQL wrote since (restauth writes the skeleton with
 * the name). Where names already look alike, the oldest account holds the
 * skeleton and the others keep signing in without one: refusing them would
 * lock users out. Returns those, for an operator to rename.
 */
export async function fillNameSkeletons(client: pg.ClientBase, accounts: string): Promise<string[]> {
  const { rows } = await client.query<NamedAccount>(
    `SELECT id, username FROM ${accounts} WHERE username IS NOT NULL AND username_skeleton IS NULL ORDER BY id`,
  );
  if (rows.length === 0) return [];
  const skeletons = rows.map((row) => nameSkeleton(row.username));
  const holders = new Map<string, NamedAccount>();
  const held = await client.query<NamedAccount & { username_skeleton: string }>(
    `SELECT id, username, username_skeleton FROM ${accounts} WHERE username_skeleton = ANY($1)`,
    [[...new Set(skeletons)]],
  );
  for (const row of held.rows) holders.set(row.username_skeleton, row);
  const lookalikes: string[] = [];
  const filled: { id: number; username: string; skeleton: string }[] = [];
  rows.forEach((row, index) => {
    const skeleton = skeletons[index]!;
    const holder = holders.get(skeleton);
    if (holder) {
      lookalikes.push(
        `user ${row.id} ${JSON.stringify(row.username)} looks like user ${holder.id} ${JSON.stringify(holder.username)}`,
      );
      return;
    }
    holders.set(skeleton, row);
    filled.push({ id: row.id, username: row.username, skeleton });
  });
  if (filled.length > 0) {
    await client.query(
      `UPDATE ${accounts} a SET username_skeleton = f.skeleton
       FROM jsonb_to_recordset($1::jsonb) AS f(id integer, username text, skeleton text)
       WHERE a.id = f.id AND a.username = f.username AND a.username_skeleton IS NULL`,
      [JSON.stringify(filled)],
    );
  }
  return lookalikes;
}

/**
 * At a start: the names SQL wrote since without their skeletons get them (fillNameSkeletons), and
 * the users whose names look alike are told, at most ten. Never stops the start: an instance that
 * races this one to a name meanwhile (23505) leaves the rest to the next start.
 */
export async function settleNameSkeletons(
  pool: pg.Pool,
  accounts: string,
  logger: { warn(message: string): void },
): Promise<void> {
  let lookalikes: string[];
  try {
    lookalikes = await inTransaction(pool, (client) => fillNameSkeletons(client, accounts));
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    logger.warn(
      'restauth: user names without a skeleton are given theirs at the next start (a name was taken meanwhile)',
    );
    return;
  }
  if (lookalikes.length === 0) return;
  logger.warn(
    `restauth: ${lookalikes.length} user name(s) look like another user's (UTS #39 confusables), kept; ` +
      `new look-alikes of either are refused; consider renaming: ${lookalikes.slice(0, 10).join('; ')}` +
      (lookalikes.length > 10 ? '; ...' : ''),
  );
}
