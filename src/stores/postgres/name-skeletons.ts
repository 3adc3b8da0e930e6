import type pg from 'pg';
import { AuthError } from '../../core/errors.js';
import { lookalikeKey, namesCollide, nameSkeleton } from '../../core/skeleton.js';
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
 * Gives the names without a skeleton theirs: every name at migrations 37 and
 * 41 (since 48, a start's repairNameSkeletons finds the names written without
 * it). Where names already look alike, the oldest account holds the
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
 * The rule (core/skeleton.ts) the stored skeletons are of, named by the migration that computed them
 * all by it. A new rule takes a new migration, which computes them again and makes the index of
 * stale names (staleNamesSql) again with its number.
 */
export const SKELETON_RULE = 48;

/**
 * The names whose skeletons are not of `rule`, or not of the name: written by SQL, or by an
 * instance of older code still running after a migration (a rolling upgrade), which writes a
 * name without `username_skeleton_of` and `username_skeleton_rule` or leaves the old ones.
 */
function staleNamesSql(rule: number): string {
  return `(username IS DISTINCT FROM username_skeleton_of
    OR (username IS NOT NULL AND username_skeleton_rule IS DISTINCT FROM ${rule}))`;
}

/**
 * Migration 48: each name also gets its lookalikeKey (core/skeleton.ts) in `username_lookalike`,
 * not unique (ASCII names share one: `Igor`, `lgor`), and, so a name whose skeletons are stale is
 * found (staleNamesSql, by a partial index), the name and the rule they were computed of:
 * refuseLookalike compares those names by the current rule, and repairNameSkeletons computes them
 * again at the next start. Computing them in SQL instead (a trigger) would need confusables.txt there.
 */
export function lookalikeKeysSql(schema: string): string {
  return `
    ALTER TABLE ${schema}.accounts ADD COLUMN username_lookalike text, ADD COLUMN username_skeleton_of text,
      ADD COLUMN username_skeleton_rule smallint;
    CREATE INDEX accounts_username_lookalike ON ${schema}.accounts (username_lookalike);
    DROP INDEX ${schema}.accounts_username_without_skeleton;
    CREATE INDEX accounts_username_skeletons_stale ON ${schema}.accounts (id) WHERE ${staleNamesSql(48)};
  `;
}

/** The skeleton columns of a name (null: none), as restauth writes them with it. */
export function nameSkeletonColumns(name: string | null): {
  username_skeleton: string | null;
  username_lookalike: string | null;
  username_skeleton_of: string | null;
  username_skeleton_rule: number | null;
} {
  return {
    username_skeleton: name === null ? null : nameSkeleton(name),
    username_lookalike: name === null ? null : lookalikeKey(name),
    username_skeleton_of: name,
    username_skeleton_rule: name === null ? null : SKELETON_RULE,
  };
}

/** Any number instances agree on, the first half of the advisory lock of a lookalikeKey. */
const LOOKALIKE_LOCK = 0x6c6f6f6b;

/**
 * Refuses `name` (user_already_exists) where it looks like another user's (core/skeleton.ts,
 * namesCollide) by a form no unique index holds: one lookalikeKey, not both wholly ASCII; or any
 * form of a name whose skeletons an older instance wrote (stale). Inside the transaction that
 * writes the name, which holds the key's advisory lock until it ends: two instances writing names
 * of one key wait for each other, and the second sees the first's. `except`: the user renamed.
 */
export async function refuseLookalike(
  client: pg.ClientBase,
  accounts: string,
  name: string,
  except: string | null,
): Promise<void> {
  const key = lookalikeKey(name);
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOOKALIKE_LOCK, key]);
  const { rows } = await client.query<{ username: string }>(
    `SELECT username FROM ${accounts}
       WHERE username_lookalike = $1 AND username IS NOT NULL AND uid IS DISTINCT FROM $2::uuid
     UNION ALL
     SELECT username FROM ${accounts}
       WHERE ${staleNamesSql(SKELETON_RULE)} AND username IS NOT NULL AND uid IS DISTINCT FROM $2::uuid`,
    [key, except],
  );
  if (rows.some((row) => namesCollide(row.username, name))) throw new AuthError('user_already_exists');
}

/**
 * Computes again the skeletons of the names whose skeletons are stale (staleNamesSql): every name
 * at migration 48 (whose rule also leaves out unseen marks, as `ı̇rma`'s dot), and at each start
 * the names SQL or an older instance wrote since. As fillNameSkeletons, the oldest account of
 * look-alikes keeps the skeleton, and the others keep signing in and are returned, for an operator
 * to rename; their `username_skeleton_of` stays empty, so each start tells again.
 */
export async function repairNameSkeletons(client: pg.ClientBase, accounts: string): Promise<string[]> {
  const { rows } = await client.query<{ id: number; username: string | null }>(
    `UPDATE ${accounts}
       SET username_skeleton = NULL, username_lookalike = NULL, username_skeleton_of = NULL, username_skeleton_rule = NULL
     WHERE ${staleNamesSql(SKELETON_RULE)}
     RETURNING id, username`,
  );
  const named = rows
    .filter((row): row is NamedAccount => row.username !== null)
    .sort((first, second) => first.id - second.id);
  if (named.length === 0) return [];
  const keys = [...new Set(named.map((row) => lookalikeKey(row.username)))];
  const skeletons = [...new Set(named.map((row) => nameSkeleton(row.username)))];
  const held = await client.query<NamedAccount>(
    `SELECT id, username FROM ${accounts}
     WHERE (username_skeleton = ANY($1) OR username_lookalike = ANY($2)) AND NOT ${staleNamesSql(SKELETON_RULE)}`,
    [skeletons, keys],
  );
  const kept: NamedAccount[] = [...held.rows];
  const takenSkeletons = new Set(held.rows.map((row) => nameSkeleton(row.username)));
  const lookalikes: string[] = [];
  const written: {
    id: number;
    username: string;
    skeleton: string | null;
    lookalike: string;
    of: string | null;
  }[] = [];
  for (const row of named) {
    const holder = kept.find((other) => namesCollide(other.username, row.username));
    const skeleton = nameSkeleton(row.username);
    if (holder)
      lookalikes.push(
        `user ${row.id} ${JSON.stringify(row.username)} looks like user ${holder.id} ${JSON.stringify(holder.username)}`,
      );
    const free = !takenSkeletons.has(skeleton);
    takenSkeletons.add(skeleton);
    written.push({
      id: row.id,
      username: row.username,
      skeleton: free ? skeleton : null,
      lookalike: lookalikeKey(row.username),
      of: holder ? null : row.username,
    });
    kept.push(row);
  }
  await client.query(
    `UPDATE ${accounts} a SET username_skeleton = w.skeleton, username_lookalike = w.lookalike,
       username_skeleton_of = w.of, username_skeleton_rule = $2
     FROM jsonb_to_recordset($1::jsonb) AS w(id integer, username text, skeleton text, lookalike text, of text)
     WHERE a.id = w.id AND a.username = w.username`,
    [JSON.stringify(written), SKELETON_RULE],
  );
  return lookalikes;
}

/**
 * At a start: the names SQL or an older instance wrote since get their skeletons computed again
 * (repairNameSkeletons), and the users whose names look alike are told, at most ten. Never stops
 * the start: an instance that races this one to a name meanwhile (23505) leaves the rest to the
 * next start.
 */
export async function settleNameSkeletons(
  pool: pg.Pool,
  accounts: string,
  logger: { warn(message: string): void },
): Promise<void> {
  let lookalikes: string[];
  try {
    lookalikes = await inTransaction(pool, (client) => repairNameSkeletons(client, accounts));
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
