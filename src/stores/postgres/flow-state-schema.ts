import type { quotedNames } from './migrations.js';

/**
 * GoTrue's `auth.flow_state` as supabase/auth's newest migration leaves it
 * (20230322519590 created it; 20230402418590 added authentication_method,
 * 20230508135423 the cleanup index, 20240306115329 auth_code_issued_at,
 * 20240612123726 row level security, 20260115000000 the OAuth context and
 * nullable PKCE columns), with its enum `code_challenge_method`. Idempotent,
 * as GoTrue's own statements are, so a database GoTrue made keeps its table.
 * restauth keeps the SHA-256 of the auth code in `auth_code`, never the code.
 */
/**
 * The GoTrue versions whose whole effect on flow_state is gotrueFlowState()'s (recorded in
 * `schema_migrations` with it, so GoTrue skips them). Not `20230508135423` and `20230818113222`
 * (they touch SAML's tables too) nor `20240612123726` (row-level security on SSO's tables too).
 */
export const FLOW_STATE_GOTRUE_VERSIONS: readonly string[] = [
  '20230322519590',
  '20230402418590',
  '20240306115329',
  '20260115000000',
];

export function gotrueFlowState(q: ReturnType<typeof quotedNames>): string {
  const flowState = `${q.schema}.flow_state`;
  return `
    DO $$ BEGIN
      CREATE TYPE ${q.schema}.code_challenge_method AS ENUM ('s256', 'plain');
    EXCEPTION WHEN duplicate_object THEN NULL;
    END $$;
    CREATE TABLE IF NOT EXISTS ${flowState} (
      id uuid PRIMARY KEY,
      user_id uuid NULL,
      auth_code text NULL,
      code_challenge_method ${q.schema}.code_challenge_method NULL,
      code_challenge text NULL,
      provider_type text NOT NULL,
      provider_access_token text NULL,
      provider_refresh_token text NULL,
      created_at timestamptz NULL,
      updated_at timestamptz NULL,
      authentication_method text NOT NULL,
      auth_code_issued_at timestamptz NULL,
      invite_token text NULL,
      referrer text NULL,
      oauth_client_state_id uuid NULL,
      linking_target_id uuid NULL,
      email_optional boolean NOT NULL DEFAULT false
    );
    CREATE INDEX IF NOT EXISTS idx_auth_code ON ${flowState} (auth_code);
    CREATE INDEX IF NOT EXISTS idx_user_id_auth_method ON ${flowState} (user_id, authentication_method);
    CREATE INDEX IF NOT EXISTS flow_state_created_at_idx ON ${flowState} (created_at DESC);
    COMMENT ON TABLE ${flowState} IS 'Stores metadata for all OAuth/SSO login flows';
    ALTER TABLE ${flowState} ENABLE ROW LEVEL SECURITY;
  `;
}
