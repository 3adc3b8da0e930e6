import type { quotedNames } from './migrations.js';

/**
 * GoTrue's tables that restauth creates and does not fill yet (docs/postgres-schema.md): the MFA
 * tables, GoTrue's audit log, `instances` and pop's `schema_migrations`, each with the columns,
 * types, enums, constraints, indexes, comments and row-level security supabase/auth's newest
 * migration leaves it with, so that SQL written for Supabase (a view over `auth.mfa_factors`, a
 * foreign key to it) runs unchanged, and GoTrue pointed at the database finds its own tables.
 *
 * - `00_init_auth_schema`: `instances`, `audit_log_entries`, `schema_migrations`.
 * - `20220614074223`: `audit_log_entries.ip_address`.
 * - `20221003041349`: the enums `factor_type`, `factor_status`, `aal_level`; `mfa_factors`,
 *   `mfa_challenges`, `mfa_amr_claims` (on `sessions`); `20221011041400`: `mfa_amr_claims.id`, its
 *   key `amr_id_pk`, `factor_id_created_at_idx`; `20230523124323`, `20230914180801`: indexes.
 * - `20240612123726`: row-level security on each (no policy: only the owner reads them).
 * - `20240729123726` (`phone` factors, `otp_code`), `20240802193726` (`last_challenged_at`,
 *   unique), `20240806073726` (`phone` no longer unique alone: `unique_phone_factor_per_user`),
 *   `20241009103726` and `20250925093508` (WebAuthn columns).
 *
 * Idempotent, as GoTrue's own statements are: a table or enum that exists (a database GoTrue made)
 * is kept. No grant to PostgREST's roles: they read none of these. (GoTrue's grant of SELECT to a
 * role named `postgres` is Supabase's hosting, not restauth's.)
 */
export function gotrueUnfilledTables(q: ReturnType<typeof quotedNames>): string {
  const s = q.schema;
  const createEnum = (name: string, labels: string[]) => `
    DO $$ BEGIN
      CREATE TYPE ${s}.${name} AS ENUM (${labels.map((label) => `'${label}'`).join(', ')});
    EXCEPTION WHEN duplicate_object THEN NULL;
    END $$;`;
  return `
    CREATE TABLE IF NOT EXISTS ${s}.instances (
      id uuid NOT NULL,
      uuid uuid,
      raw_base_config text,
      created_at timestamptz,
      updated_at timestamptz,
      CONSTRAINT instances_pkey PRIMARY KEY (id)
    );
    COMMENT ON TABLE ${s}.instances IS 'Auth: Manages users across multiple sites.';
    ALTER TABLE ${s}.instances ENABLE ROW LEVEL SECURITY;

    CREATE TABLE IF NOT EXISTS ${s}.audit_log_entries (
      instance_id uuid,
      id uuid NOT NULL,
      payload json,
      created_at timestamptz,
      ip_address varchar(64) NOT NULL DEFAULT '',
      CONSTRAINT audit_log_entries_pkey PRIMARY KEY (id)
    );
    CREATE INDEX IF NOT EXISTS audit_logs_instance_id_idx ON ${s}.audit_log_entries (instance_id);
    COMMENT ON TABLE ${s}.audit_log_entries IS 'Auth: Audit trail for user actions.';
    ALTER TABLE ${s}.audit_log_entries ENABLE ROW LEVEL SECURITY;

    CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
      version varchar(255) NOT NULL,
      CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
    );
    COMMENT ON TABLE ${s}.schema_migrations IS 'Auth: Manages updates to the auth system.';
    ALTER TABLE ${s}.schema_migrations ENABLE ROW LEVEL SECURITY;

    ${createEnum('factor_type', ['totp', 'webauthn', 'phone'])}
    ${createEnum('factor_status', ['unverified', 'verified'])}
    ${createEnum('aal_level', ['aal1', 'aal2', 'aal3'])}

    CREATE TABLE IF NOT EXISTS ${s}.mfa_factors (
      id uuid NOT NULL,
      user_id uuid NOT NULL,
      friendly_name text,
      factor_type ${s}.factor_type NOT NULL,
      status ${s}.factor_status NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      secret text,
      phone text DEFAULT NULL,
      last_challenged_at timestamptz DEFAULT NULL,
      web_authn_credential jsonb,
      web_authn_aaguid uuid,
      last_webauthn_challenge_data jsonb,
      CONSTRAINT mfa_factors_pkey PRIMARY KEY (id),
      CONSTRAINT mfa_factors_user_id_fkey FOREIGN KEY (user_id) REFERENCES ${s}.users(id) ON DELETE CASCADE,
      CONSTRAINT mfa_factors_last_challenged_at_key UNIQUE (last_challenged_at)
    );
    CREATE UNIQUE INDEX IF NOT EXISTS mfa_factors_user_friendly_name_unique ON ${s}.mfa_factors (friendly_name, user_id)
      WHERE trim(friendly_name) <> '';
    CREATE INDEX IF NOT EXISTS factor_id_created_at_idx ON ${s}.mfa_factors (user_id, created_at);
    CREATE INDEX IF NOT EXISTS mfa_factors_user_id_idx ON ${s}.mfa_factors (user_id);
    CREATE UNIQUE INDEX IF NOT EXISTS unique_phone_factor_per_user ON ${s}.mfa_factors (user_id, phone);
    COMMENT ON TABLE ${s}.mfa_factors IS 'auth: stores metadata about factors';
    COMMENT ON COLUMN ${s}.mfa_factors.last_webauthn_challenge_data IS
      'Stores the latest WebAuthn challenge data including attestation/assertion for customer verification';
    ALTER TABLE ${s}.mfa_factors ENABLE ROW LEVEL SECURITY;

    CREATE TABLE IF NOT EXISTS ${s}.mfa_challenges (
      id uuid NOT NULL,
      factor_id uuid NOT NULL,
      created_at timestamptz NOT NULL,
      verified_at timestamptz,
      ip_address inet NOT NULL,
      otp_code text,
      web_authn_session_data jsonb,
      CONSTRAINT mfa_challenges_pkey PRIMARY KEY (id),
      CONSTRAINT mfa_challenges_auth_factor_id_fkey FOREIGN KEY (factor_id)
        REFERENCES ${s}.mfa_factors(id) ON DELETE CASCADE
    );
    CREATE INDEX IF NOT EXISTS mfa_challenge_created_at_idx ON ${s}.mfa_challenges (created_at DESC);
    COMMENT ON TABLE ${s}.mfa_challenges IS 'auth: stores metadata about challenge requests made';
    ALTER TABLE ${s}.mfa_challenges ENABLE ROW LEVEL SECURITY;

    CREATE TABLE IF NOT EXISTS ${s}.mfa_amr_claims (
      session_id uuid NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      authentication_method text NOT NULL,
      id uuid NOT NULL,
      CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey UNIQUE (session_id, authentication_method),
      CONSTRAINT mfa_amr_claims_session_id_fkey FOREIGN KEY (session_id)
        REFERENCES ${s}.sessions(id) ON DELETE CASCADE,
      CONSTRAINT amr_id_pk PRIMARY KEY (id)
    );
    COMMENT ON TABLE ${s}.mfa_amr_claims IS
      'auth: stores authenticator method reference claims for multi factor authentication';
    ALTER TABLE ${s}.mfa_amr_claims ENABLE ROW LEVEL SECURITY;
  `;
}

/**
 * The GoTrue versions whose whole effect is in restauth's schema once gotrueUnfilledTables() ran
 * (migration 18; recorded by migrate.ts in `schema_migrations`, so GoTrue skips them): the ones listed
 * above, and two these tables complete: `00` (also `users`, migration 14, and `refresh_tokens`, 17, as
 * later versions left them; `uid()` and `role()`, migration 13) and `20221011041400` (also
 * `sessions`' index `user_id_created_at_idx`, 17). Not `20240612123726`: row-level security on SSO's
 * tables too, which restauth does not make.
 */
export const UNFILLED_TABLES_GOTRUE_VERSIONS: readonly string[] = [
  '00',
  '20220614074223',
  '20221003041349',
  '20221011041400',
  '20230523124323',
  '20230914180801',
  '20240729123726',
  '20240802193726',
  '20240806073726',
  '20241009103726',
  '20250925093508',
];
