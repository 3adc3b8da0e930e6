import type { quotedNames } from './migrations.js';

/**
 * The GoTrue versions whose whole effect migrations 2, 13, 14 and 15 reproduced (Supabase's SQL
 * helpers, users and identities in GoTrue's shape), recorded by migration 22 because those
 * migrations ran before restauth recorded GoTrue versions (docs/postgres-schema.md, "Migrations").
 * Sessions', refresh tokens' and one-time tokens' versions are migration 21's. Recording matters
 * beyond bookkeeping: GoTrue pointed at the database runs every version not recorded, and
 * `20220531120530` would replace restauth's `jwt()`, which the pre-request reads both claim settings
 * through.
 */
export const REPRODUCED_GOTRUE_VERSIONS: readonly string[] = [
  // users (migration 14): phone columns and email_confirmed_at, confirmed_at, the email change
  // columns, the lower(email) index, banned_until, reauthentication, the token indexes, SSO's
  // partial email key, phone as text, deleted_at, is_anonymous.
  '20210710035447',
  '20210722035447',
  '20210730183235',
  '20220114185221',
  '20220114185340',
  '20220323170000',
  '20220429102000',
  '20221215195500',
  '20230116124310',
  '20230116124412',
  '20240214120130',
  // identities (migration 15): the table, its user_id index (twice), the email backfills (every
  // user with an address has its email identity), the email column, the uuid key.
  '20210909172000',
  '20211122151130',
  '20221027105023',
  '20221125140132',
  '20221208132122',
  '20221215195800',
  '20230131181311',
  '20231117164230',
  // uid(), role(), email(), jwt() (migrations 2 and 13): restauth's read both claim settings, as
  // these do; their comments are restauth's.
  '20211124214934',
  '20211202183645',
  '20220224000811',
  '20220531120530',
  // No sso_sessions table (restauth never made one).
  '20221215195900',
];

/**
 * What those versions do that migration 14 left out, all cosmetic: the comment on the partial email
 * index (`20221215195500`), and the defaults of `phone` and `phone_change` typed as GoTrue's history
 * leaves them (they were varchar until `20230116124310` made the columns text).
 */
export function reproducedVersionsTouches(q: ReturnType<typeof quotedNames>): string {
  return `
    COMMENT ON INDEX ${q.schema}.users_email_partial_key IS
      'Auth: A partial unique index that applies only when is_sso_user is false';
    ALTER TABLE ${q.schema}.users
      ALTER COLUMN phone SET DEFAULT NULL::character varying,
      ALTER COLUMN phone_change SET DEFAULT ''::character varying;
  `;
}
