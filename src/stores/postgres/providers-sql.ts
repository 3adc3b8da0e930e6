/**
 * app_metadata's `provider` and `providers` from the user's identities, as GoTrue's
 * UpdateAppMetaDataProviders writes them into raw_app_meta_data (core/identities.ts withProviders):
 * `providers` the identities' providers, oldest identity first, each once; `provider` the first of
 * them, left as it was when there is none.
 */

/**
 * The jsonb object to merge into the app_metadata of the user whose id is the SQL expression `userId`
 * (`none`: the object to merge when the user has no identity).
 */
export function providersJsonSql(identities: string, userId: string, none: string): string {
  return `SELECT CASE WHEN count(*) = 0 THEN ${none}
      ELSE jsonb_build_object('provider', (array_agg(f.provider ORDER BY f.created_at, f.id))[1],
        'providers', jsonb_agg(f.provider ORDER BY f.created_at, f.id)) END
    FROM (SELECT DISTINCT ON (provider) provider, created_at, id FROM ${identities}
          WHERE user_id = ${userId} ORDER BY provider, created_at, id) f`;
}

/**
 * Sets user $1's providers from its identities. Run after an identity write, in its transaction, while
 * that holds the user's row (every identity write takes it first): a statement of its own sees every
 * identity committed before the row was taken, so two links (or a link and an unlink) racing for one
 * user never leave a provider out or in wrongly, as one statement reading its older snapshot could.
 */
export function syncProvidersSql(users: string, identities: string): string {
  return `UPDATE ${users} u
    SET raw_app_meta_data = coalesce(u.raw_app_meta_data, '{}') || (${providersJsonSql(identities, 'u.id', `jsonb_build_object('providers', '[]'::jsonb)`)})
    WHERE u.id = $1`;
}

/**
 * Migration 31: users stored before restauth kept providers get them from their identities; one with
 * none, `email` (the provider its password signs in with, what GET /user answered for it); an
 * anonymous user none, as GoTrue's. Rows already holding `providers` (GoTrue's own) keep theirs.
 */
export function providersBackfillSql(users: string, identities: string): string {
  return `UPDATE ${users} u
    SET raw_app_meta_data = coalesce(u.raw_app_meta_data, '{}') || (${providersJsonSql(identities, 'u.id', `'{"provider": "email", "providers": ["email"]}'::jsonb`)})
    WHERE NOT u.is_anonymous AND jsonb_typeof(coalesce(u.raw_app_meta_data, '{}')) = 'object'
      AND NOT coalesce(u.raw_app_meta_data, '{}') ? 'providers'`;
}
