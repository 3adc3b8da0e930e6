import type pg from 'pg';
import { AuthError } from '../../core/errors.js';
import { loginKey } from '../../core/identity.js';
import type { OutgoingMail } from '../../core/ports/outbox.js';
import {
  CodeHashInUseError,
  type CodeAttempt,
  type OneTimeToken,
  type OneTimeTokenConditions,
  type SpendConditions,
  type TokenWrite,
} from '../../core/ports/store.js';
import { gotrueTokenType, type oneTimeTokenTables } from './gotrue-one-time-tokens.js';
import type { quotedNames } from './migrations.js';
import { insertMailsSql } from './outbox.js';
import { ONE_TIME_TOKEN_COLUMNS, toOneTimeToken, type OneTimeTokenRow } from './store-rows.js';
import { ofOwnUser, OWN_INSTANCE, userUid } from './user-scope.js';

/** spendSql's row: the token's columns are null when it was found and kept. */
type SpendRow = { banned: boolean } & { [K in keyof OneTimeTokenRow]: OneTimeTokenRow[K] | null };

/** The values of spendSql's $3-$5. */
function spendValues(now: Date, conditions: SpendConditions): [Date, Date | null, readonly string[] | null] {
  return [now, conditions.unlessBannedAt ?? null, conditions.whileAddressedFor ?? null];
}

/** What spendSql's row says: a ban refuses (nothing spent), else the token spent while live, or null. */
function spent(row: SpendRow | undefined, now: Date): OneTimeToken | null {
  if (row?.banned) throw new AuthError('user_banned');
  if (!row || row.hash === null || row.expires_at!.getTime() <= now.getTime()) return null;
  return toOneTimeToken(row as OneTimeTokenRow);
}

/**
 * One-time tokens (mailed links and codes) in restauth.code_tokens, shown in GoTrue's
 * auth.one_time_tokens (gotrue-one-time-tokens.ts), with the mails that carry them: PostgresStore's.
 */
export class PostgresCodeTokens {
  constructor(
    private readonly pool: pg.Pool,
    private readonly names: ReturnType<typeof quotedNames>,
    /** GoTrue's users: a token is written only for a user of this instance. */
    private readonly users: string,
    private readonly oneTimeTokens: ReturnType<typeof oneTimeTokenTables>,
    private readonly mailOutbox: string,
    /** Called after a commit that queued mails (the backend's outbox wakes its worker). */
    private readonly mailsQueued: (() => void) | undefined,
  ) {}

  async createOneTimeToken(
    token: OneTimeToken,
    mails: readonly OutgoingMail[] = [],
    options: OneTimeTokenConditions = {},
  ): Promise<TokenWrite> {
    // One statement: the new token takes the place of the earlier one of its user and purpose (one
    // row per pair, migration 10), unless the earlier one is live and newer than the throttle allows;
    // the mails carrying it (the outbox rows the mail worker sends) come only with it, and GoTrue's
    // table shows it as the newest token of its type (gotrue-one-time-tokens.ts). Racing callers
    // meet on the unique index: the first inserts, each later one waits for it and then replaces it
    // or, throttled, stores nothing. The row keeps its place, so a replacement may reuse its own code.
    // An earlier token dated ahead by more than the throttle's length throttles nothing (Store's doc).
    // The user's row is read locked (FOR SHARE): a ban or a deletion in flight is waited for and then
    // seen (READ COMMITTED re-reads the row it waited for); a user deleted since the caller read it, or
    // (with unlessBannedAt) banned, or (with whileAddressIs) moved to another address, gets no row,
    // so no token, no mail.
    // The casts: an INSERT's SELECT, unlike its VALUES, does not take its columns' types.
    const { rows } = await this.pool
      .query<{ stored: number }>(
        `WITH stored AS (
         INSERT INTO ${this.oneTimeTokens.codeTokens} AS earlier
           (hash, code_hash, recipient, user_id, purpose, created_at, expires_at, data)
         SELECT $1::text, $7::text, $10::text, $2::uuid, $3::text, $4::timestamptz, $5::timestamptz, $6::jsonb
         WHERE EXISTS (SELECT 1 FROM ${this.users} u WHERE u.id = $2::uuid AND ${OWN_INSTANCE}
                        AND ($13::timestamptz IS NULL OR u.banned_until IS NULL OR u.banned_until <= $13)
                        AND ($14::text IS NULL OR u.email = $14::text) FOR SHARE)
         ON CONFLICT (user_id, purpose) DO UPDATE SET hash = EXCLUDED.hash, code_hash = EXCLUDED.code_hash,
           recipient = EXCLUDED.recipient, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
           data = EXCLUDED.data, failed_attempts = 0
         WHERE $11::timestamptz IS NULL OR earlier.created_at <= $11 OR earlier.expires_at <= $4
           OR earlier.created_at >= $4::timestamptz + ($4::timestamptz - $11::timestamptz)
         RETURNING user_id, hash, recipient, created_at
       ), shown AS (
         INSERT INTO ${this.oneTimeTokens.gotrue} AS shown
           (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
         SELECT gen_random_uuid(), s.user_id, $12::text::${this.names.schema}.one_time_token_type, s.hash,
           coalesce(s.recipient, u.email, ''), s.created_at AT TIME ZONE 'UTC', s.created_at AT TIME ZONE 'UTC'
         FROM stored s JOIN ${this.users} u ON u.id = s.user_id WHERE $12::text IS NOT NULL
         ON CONFLICT (user_id, token_type) DO UPDATE SET token_hash = EXCLUDED.token_hash,
           relates_to = EXCLUDED.relates_to, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
       ), queued AS (
         ${insertMailsSql(this.mailOutbox, '$8', '$9', 'stored')}
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM stored)::int AS stored, (SELECT count(*) FROM queued) AS queued`,
        [
          token.hash,
          userUid(token.userId),
          token.purpose,
          token.createdAt,
          token.expiresAt,
          token.data,
          token.codeHash,
          JSON.stringify(mails),
          // Due now by the mail worker's clock (the wall clock), whatever clock dated the token.
          new Date(),
          token.recipient ?? null,
          options.unlessIssuedAfter ?? null,
          gotrueTokenType(token.purpose),
          options.unlessBannedAt ?? null,
          options.whileAddressIs === undefined ? null : loginKey(options.whileAddressIs),
        ],
      )
      .catch((error: unknown) => {
        const pgError = error as { code?: string; constraint?: string };
        if (pgError.code === '23505' && pgError.constraint === 'code_tokens_code_hash')
          throw new CodeHashInUseError();
        throw error;
      });
    const stored = rows[0]!.stored === 1;
    if (stored && mails.length > 0) this.mailsQueued?.();
    return { stored };
  }

  async consumeOneTimeToken(
    hash: string,
    purpose: string,
    now: Date,
    conditions: SpendConditions = {},
  ): Promise<OneTimeToken | null> {
    // One DELETE: a racing consumer, by link or by code, waits for the row lock and then finds no row.
    // The link's hash only: a code's hash is never a link (see consumeOneTimeCode).
    const { rows } = await this.pool.query<SpendRow>(this.spendSql('t.hash = $1 AND t.purpose = $2'), [
      hash,
      purpose,
      ...spendValues(now, conditions),
    ]);
    return spent(rows[0], now);
  }

  async consumeOneTimeCode(attempt: CodeAttempt): Promise<OneTimeToken | null> {
    const { recipient, candidates, now, maxFailures } = attempt;
    const purposes = candidates.map((candidate) => candidate.purpose);
    const codeHashes = candidates.map((candidate) => candidate.codeHash);
    // A hit is one DELETE, as a link's: racing consumers find the row once.
    const { rows } = await this.pool.query<SpendRow>(
      this.spendSql(
        't.recipient = $1 AND (t.purpose, t.code_hash) IN (SELECT * FROM unnest($2::text[], $6::text[]))',
      ),
      [recipient, purposes, ...spendValues(now, attempt.conditions ?? {}), codeHashes],
    );
    // Found (spent, or refused by the conditions): no miss.
    if (rows[0]) return spent(rows[0], now);
    // A miss: one UPDATE counts it against every live code it may have been aimed at. Racing misses
    // queue on the row lock and each re-reads the count, so none is lost; the last allowed one retires
    // the code. The link, 256 random bits no one guesses, lives on (CodeAttempt.maxFailures).
    await this.pool.query(
      `UPDATE ${this.oneTimeTokens.codeTokens} SET failed_attempts = failed_attempts + 1,
         code_hash = CASE WHEN failed_attempts + 1 >= $4 THEN NULL ELSE code_hash END
       WHERE recipient = $1 AND purpose = ANY($2::text[]) AND expires_at > $3 AND code_hash IS NOT NULL`,
      [recipient, purposes, now, maxFailures],
    );
    return null;
  }

  async findOneTimeToken(userId: string, purpose: string, now: Date): Promise<OneTimeToken | null> {
    const uid = userUid(userId);
    if (uid === null) return null;
    const { rows } = await this.pool.query<OneTimeTokenRow>(
      `SELECT ${ONE_TIME_TOKEN_COLUMNS} FROM ${this.oneTimeTokens.codeTokens} t
       WHERE t.user_id = $1 AND t.purpose = $2 AND t.expires_at > $3 AND ${ofOwnUser(this.users, 't.user_id')}
       ORDER BY t.created_at DESC LIMIT 1`,
      [uid, purpose, now],
    );
    return rows[0] ? toOneTimeToken(rows[0]) : null;
  }

  /**
   * One statement spending the token `match` finds ($1, $2 and any from $6), under SpendConditions
   * ($3 now, $4 unlessBannedAt, $5 whileAddressedFor), judged on its user's row, read locked (FOR
   * SHARE): a ban in flight is waited for and then seen, as createOneTimeToken's. No row: nothing
   * found; a row without a hash: found and kept (refused).
   */
  private spendSql(match: string): string {
    return `WITH found AS (
         SELECT t.hash, t.expires_at <= $3 AS expired,
           coalesce($4::timestamptz IS NOT NULL AND u.banned_until > $4, false) AS banned,
           coalesce($5::text[] IS NOT NULL AND (u.id IS NULL OR (t.recipient IS NOT NULL
             AND t.purpose = ANY($5::text[]) AND u.email IS DISTINCT FROM t.recipient)), false) AS unaddressed
         FROM ${this.oneTimeTokens.codeTokens} t
           LEFT JOIN LATERAL (SELECT u.id, u.email, u.banned_until FROM ${this.users} u
                              WHERE u.id = t.user_id AND ${OWN_INSTANCE} FOR SHARE) u ON true
         WHERE ${match}
         FOR UPDATE OF t
       ), consumed AS (
         DELETE FROM ${this.oneTimeTokens.codeTokens} t USING found f
         WHERE t.hash = f.hash AND (f.expired OR NOT (f.banned OR f.unaddressed))
         RETURNING ${ONE_TIME_TOKEN_COLUMNS}
       ), ${this.unshown('consumed')}
       SELECT f.banned AND NOT f.expired AS banned, c.* FROM found f LEFT JOIN consumed c ON c.hash = f.hash`;
  }

  /**
   * A WITH clause deleting GoTrue's row that shows a token of `tokens` (a clause returning `hash`): a
   * token consumed or expired is no longer shown as pending.
   */
  private unshown(tokens: string): string {
    return `unshown AS (
      DELETE FROM ${this.oneTimeTokens.gotrue} g USING ${tokens} c WHERE g.token_hash = c.hash
    )`;
  }
}
