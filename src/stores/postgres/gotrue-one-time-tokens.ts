import pg from 'pg';
import type { quotedNames } from './migrations.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * GoTrue's `one_time_token_type` of a restauth purpose, as GoTrue itself files them: an invitation is
 * a confirmation token, a magic link to an existing user a recovery token. The other purposes (the
 * marker an email change leaves after its first confirmation) have no GoTrue type.
 */
const GOTRUE_TOKEN_TYPES: ReadonlyMap<string, string> = new Map([
  ['confirmation', 'confirmation_token'],
  ['invite', 'confirmation_token'],
  ['recovery', 'recovery_token'],
  ['magiclink', 'recovery_token'],
  ['email_change_current', 'email_change_token_current'],
  ['email_change_new', 'email_change_token_new'],
  ['reauthentication', 'reauthentication_token'],
]);

/** The GoTrue token type a token of `purpose` is shown as in `auth.one_time_tokens`, or null. */
export function gotrueTokenType(purpose: string): string | null {
  return GOTRUE_TOKEN_TYPES.get(purpose) ?? null;
}

/** The tables of one-time tokens: restauth's record of each, and GoTrue's table that shows them. */
export function oneTimeTokenTables(names: Names) {
  return {
    codeTokens: `${names.restauth}.code_tokens`,
    gotrue: `${names.schema}.one_time_tokens`,
  };
}

/**
 * Migration 21: one-time tokens in GoTrue's layout (docs/postgres-schema.md). restauth's table, which
 * bore GoTrue's name `auth.one_time_tokens` in restauth's shape, moves to `restauth.code_tokens`, its
 * user named by `auth.users.id` (on delete cascade) instead of the account's integer key: it keeps all
 * restauth needs (one token per user and purpose, the keyed code hash, the recipient, failed attempts,
 * expiry, data), which GoTrue's table cannot hold (one token per user and *type*: a pending magic link
 * and a pending recovery share a type; an email change's marker has none). GoTrue's
 * `auth.one_time_tokens` is created as GoTrue's newest migration leaves it, and shows the newest live
 * token of each type as GoTrue means it: `token_hash` a hash of the link's secret (restauth's SHA-256,
 * not GoTrue's SHA-224 of address and code), `relates_to` the address. Existing tokens are converted
 * and shown.
 */
export function gotrueOneTimeTokens(q: Names): string {
  const t = oneTimeTokenTables(q);
  const typeOf = `CASE c.purpose ${[...GOTRUE_TOKEN_TYPES]
    .map(([purpose, type]) => `WHEN ${pg.escapeLiteral(purpose)} THEN ${pg.escapeLiteral(type)}`)
    .join(' ')} END`;
  return `
    ALTER TABLE ${q.schema}.one_time_tokens SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.restauth}.one_time_tokens RENAME TO code_tokens;
    ALTER INDEX ${q.restauth}.one_time_tokens_pkey RENAME TO code_tokens_pkey;
    ALTER INDEX ${q.restauth}.one_time_tokens_code_hash RENAME TO code_tokens_code_hash;
    ALTER INDEX ${q.restauth}.one_time_tokens_recipient RENAME TO code_tokens_recipient;
    -- The user by GoTrue's id: the integer key (and its unique index with the purpose) goes.
    ALTER TABLE ${t.codeTokens} ADD COLUMN user_uid uuid;
    UPDATE ${t.codeTokens} c SET user_uid = a.uid FROM ${q.restauth}.accounts a WHERE a.id = c.user_id;
    ALTER TABLE ${t.codeTokens} DROP COLUMN user_id;
    ALTER TABLE ${t.codeTokens} RENAME COLUMN user_uid TO user_id;
    ALTER TABLE ${t.codeTokens} ALTER COLUMN user_id SET NOT NULL,
      ADD CONSTRAINT code_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES ${q.schema}.users(id) ON DELETE CASCADE;
    CREATE UNIQUE INDEX code_tokens_user_purpose ON ${t.codeTokens} (user_id, purpose);
    COMMENT ON TABLE ${t.codeTokens} IS
      'restauth: one-time tokens (one per user and purpose): link hash, keyed code hash, recipient, failed attempts, expiry, data; auth.one_time_tokens shows the newest of each GoTrue type';

    DO $$ BEGIN
      CREATE TYPE ${q.schema}.one_time_token_type AS ENUM ('confirmation_token', 'reauthentication_token',
        'recovery_token', 'email_change_token_new', 'email_change_token_current', 'phone_change_token');
    EXCEPTION WHEN duplicate_object THEN NULL;
    END $$;
    CREATE TABLE ${t.gotrue} (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES ${q.schema}.users ON DELETE CASCADE,
      token_type ${q.schema}.one_time_token_type NOT NULL,
      token_hash text NOT NULL,
      relates_to text NOT NULL,
      created_at timestamp without time zone NOT NULL DEFAULT now(),
      updated_at timestamp without time zone NOT NULL DEFAULT now(),
      CHECK (char_length(token_hash) > 0)
    );
    CREATE INDEX one_time_tokens_token_hash_hash_idx ON ${t.gotrue} USING hash (token_hash);
    CREATE INDEX one_time_tokens_relates_to_hash_idx ON ${t.gotrue} USING hash (relates_to);
    CREATE UNIQUE INDEX one_time_tokens_user_id_token_type_key ON ${t.gotrue} (user_id, token_type);
    ALTER TABLE ${t.gotrue} ENABLE ROW LEVEL SECURITY;

    -- The newest live token of each user and type. GoTrue's dates are UTC without a time zone.
    INSERT INTO ${t.gotrue} (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
      SELECT DISTINCT ON (c.user_id, ${typeOf}) gen_random_uuid(), c.user_id,
        (${typeOf})::${q.schema}.one_time_token_type, c.hash, coalesce(c.recipient, u.email, ''),
        c.created_at AT TIME ZONE 'UTC', c.created_at AT TIME ZONE 'UTC'
      FROM ${t.codeTokens} c JOIN ${q.schema}.users u ON u.id = c.user_id
      WHERE ${typeOf} IS NOT NULL AND c.expires_at > now()
      ORDER BY c.user_id, ${typeOf}, c.created_at DESC;
  `;
}

/**
 * The GoTrue versions whose whole effect is in restauth's schema once migrations 17 (sessions and
 * refresh tokens) and 21 (one-time tokens) ran, recorded by migration 21 in `schema_migrations` so a
 * GoTrue pointed at the database skips them. Not `20230508135423` (also flow_state's and SAML's
 * indexes) nor `20250904133000` (a foreign key to auth.oauth_clients, which restauth does not make).
 */
export const SESSION_AND_TOKEN_GOTRUE_VERSIONS: readonly string[] = [
  '20210927181326', // refresh_tokens.parent, the token's uniqueness (its parent key went later)
  '20220811173540', // sessions; refresh_tokens.session_id
  '20221003041400', // sessions.factor_id and aal
  '20221020193600', // sessions_user_id_idx
  '20221021073300', // refresh_tokens_session_id_revoked_idx
  '20221114143122', // sessions.not_after
  '20221114143410', // refresh_tokens' parent key dropped
  '20230411005111', // refresh_tokens_token_idx dropped
  '20231027141322', // sessions.refreshed_at, user_agent, ip
  '20231114161723', // sessions.tag
  '20240427152123', // one_time_tokens
  '20251007112900', // sessions.refresh_token_hmac_key and refresh_token_counter
  '20251111201300', // sessions.scopes
];
