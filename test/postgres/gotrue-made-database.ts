import { randomBytes, randomUUID } from 'node:crypto';
import bcrypt from 'bcrypt';
import pg from 'pg';
import { encodeGoTrueRefreshToken } from '../../src/stores/postgres/gotrue-refresh-token.js';
import { GOTRUE_VERSIONS } from '../../src/stores/postgres/gotrue-schema.js';

/**
 * A database as GoTrue (supabase/auth) leaves it after all 70 of its
 * migrations, with the rows its sign-ups, sign-ins and refreshes write. The
 * SQL is restauth's own, written from the facts of GoTrue's migrations
 * (docs/postgres-schema.md, part 1; every table below was compared with the
 * schema GoTrue's own migrations build, column by column).
 *
 * GoTrue's SAML, WebAuthn, OAuth-server and custom-provider tables are left
 * out: restauth neither reproduces nor reads them, and serving the database
 * keeps whatever tables it finds in `auth` as they are.
 */
export interface GoTrueUser {
  id: string;
  email: string;
  password: string;
  fullName: string;
}

export interface GoTrueMadeDatabase {
  users: [GoTrueUser, GoTrueUser];
  /** Gail's session, refreshed once the first way (v1): a row per token in auth.refresh_tokens. */
  v1: { sessionId: string; token: string; rotatedToken: string };
  /** Hugo's session, the second way (v2): tokens signed with the session's key, at its counter. */
  v2: { sessionId: string; token: string; staleToken: string; counter: bigint };
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** GoTrue's v1 refresh token (crypto.SecureAlphanumeric(12)): base32 of random bytes, lower-cased, 12 long. */
function v1Token(): string {
  const base32 = 'abcdefghijklmnopqrstuvwxyz234567';
  return [...randomBytes(12)].map((byte) => base32[byte % 32]).join('');
}

/** GoTrue hashes with Go's bcrypt at cost 10, which writes the `$2a$` prefix. */
async function goTrueHash(password: string): Promise<string> {
  return '$2a$' + (await bcrypt.hash(password, 10)).slice(4);
}

/** GoTrue's schema as its newest migration leaves it (types, tables, keys, indexes, RLS, SQL helpers). */
const GOTRUE_SCHEMA = `
  CREATE SCHEMA auth;

  CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
  CREATE TYPE auth.code_challenge_method AS ENUM ('s256', 'plain');
  CREATE TYPE auth.factor_status AS ENUM ('unverified', 'verified');
  CREATE TYPE auth.factor_type AS ENUM ('totp', 'webauthn', 'phone');
  CREATE TYPE auth.one_time_token_type AS ENUM ('confirmation_token', 'reauthentication_token',
    'recovery_token', 'email_change_token_new', 'email_change_token_current', 'phone_change_token');
  CREATE TYPE auth.oauth_registration_type AS ENUM ('dynamic', 'manual');
  CREATE TYPE auth.oauth_client_type AS ENUM ('public', 'confidential');

  -- pop's bookkeeping: one row per applied file, the digits before its first underscore.
  CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);

  CREATE TABLE auth.instances (
    id uuid PRIMARY KEY, uuid uuid, raw_base_config text, created_at timestamptz, updated_at timestamptz);

  CREATE TABLE auth.users (
    instance_id uuid, id uuid PRIMARY KEY, aud varchar(255), role varchar(255), email varchar(255),
    encrypted_password varchar(255), email_confirmed_at timestamptz, invited_at timestamptz,
    confirmation_token varchar(255), confirmation_sent_at timestamptz, recovery_token varchar(255),
    recovery_sent_at timestamptz, email_change_token_new varchar(255), email_change varchar(255),
    email_change_sent_at timestamptz, last_sign_in_at timestamptz, raw_app_meta_data jsonb,
    raw_user_meta_data jsonb, is_super_admin boolean, created_at timestamptz, updated_at timestamptz,
    phone text UNIQUE DEFAULT NULL::varchar, phone_confirmed_at timestamptz,
    -- varchar columns once, made text later: their defaults kept the old type's cast.
    phone_change text DEFAULT ''::varchar,
    phone_change_token varchar(255) DEFAULT '', phone_change_sent_at timestamptz,
    confirmed_at timestamptz GENERATED ALWAYS AS (least(email_confirmed_at, phone_confirmed_at)) STORED,
    email_change_token_current varchar(255) DEFAULT '',
    email_change_confirm_status smallint DEFAULT 0 CHECK (email_change_confirm_status BETWEEN 0 AND 2),
    banned_until timestamptz, reauthentication_token varchar(255) DEFAULT '',
    reauthentication_sent_at timestamptz, is_sso_user boolean NOT NULL DEFAULT false,
    deleted_at timestamptz, is_anonymous boolean NOT NULL DEFAULT false);
  CREATE INDEX users_instance_id_idx ON auth.users (instance_id);
  CREATE INDEX users_instance_id_email_idx ON auth.users (instance_id, email);
  CREATE UNIQUE INDEX users_email_partial_key ON auth.users (email) WHERE is_sso_user = false;
  CREATE UNIQUE INDEX confirmation_token_idx ON auth.users (confirmation_token) WHERE confirmation_token !~ '^[0-9 ]*$';
  CREATE UNIQUE INDEX recovery_token_idx ON auth.users (recovery_token) WHERE recovery_token !~ '^[0-9 ]*$';
  CREATE UNIQUE INDEX email_change_token_current_idx ON auth.users (email_change_token_current)
    WHERE email_change_token_current !~ '^[0-9 ]*$';
  CREATE UNIQUE INDEX email_change_token_new_idx ON auth.users (email_change_token_new)
    WHERE email_change_token_new !~ '^[0-9 ]*$';
  CREATE UNIQUE INDEX reauthentication_token_idx ON auth.users (reauthentication_token)
    WHERE reauthentication_token !~ '^[0-9 ]*$';
  CREATE INDEX users_is_anonymous_idx ON auth.users (is_anonymous);

  CREATE TABLE auth.identities (
    provider_id text NOT NULL, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL, provider text NOT NULL, last_sign_in_at timestamptz,
    created_at timestamptz, updated_at timestamptz,
    email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider));
  CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
  CREATE INDEX identities_email_idx ON auth.identities (email text_pattern_ops);

  CREATE TABLE auth.oauth_clients (
    id uuid PRIMARY KEY, client_secret_hash text, registration_type auth.oauth_registration_type NOT NULL,
    redirect_uris text NOT NULL, grant_types text NOT NULL,
    client_name text CONSTRAINT oauth_clients_client_name_length CHECK (char_length(client_name) <= 1024),
    client_uri text CONSTRAINT oauth_clients_client_uri_length CHECK (char_length(client_uri) <= 2048),
    logo_uri text CONSTRAINT oauth_clients_logo_uri_length CHECK (char_length(logo_uri) <= 2048),
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz, client_type auth.oauth_client_type NOT NULL DEFAULT 'confidential',
    token_endpoint_auth_method text NOT NULL
      CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none')));
  CREATE INDEX oauth_clients_deleted_at_idx ON auth.oauth_clients (deleted_at);

  CREATE TABLE auth.sessions (
    id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz, updated_at timestamptz, factor_id uuid, aal auth.aal_level,
    not_after timestamptz, refreshed_at timestamp, user_agent text, ip inet, tag text,
    oauth_client_id uuid REFERENCES auth.oauth_clients (id) ON DELETE CASCADE,
    refresh_token_hmac_key text, refresh_token_counter bigint,
    scopes text CONSTRAINT sessions_scopes_length CHECK (char_length(scopes) <= 4096));
  CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);
  CREATE INDEX user_id_created_at_idx ON auth.sessions (user_id, created_at);
  CREATE INDEX sessions_not_after_idx ON auth.sessions (not_after DESC);
  CREATE INDEX sessions_oauth_client_id_idx ON auth.sessions (oauth_client_id);

  CREATE TABLE auth.refresh_tokens (
    instance_id uuid, id bigserial PRIMARY KEY, token varchar(255) CONSTRAINT refresh_tokens_token_unique UNIQUE,
    user_id varchar(255), revoked boolean, created_at timestamptz, updated_at timestamptz,
    parent varchar(255), session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE);
  CREATE INDEX refresh_tokens_instance_id_idx ON auth.refresh_tokens (instance_id);
  CREATE INDEX refresh_tokens_instance_id_user_id_idx ON auth.refresh_tokens (instance_id, user_id);
  CREATE INDEX refresh_tokens_parent_idx ON auth.refresh_tokens (parent);
  CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens (session_id, revoked);
  CREATE INDEX refresh_tokens_updated_at_idx ON auth.refresh_tokens (updated_at DESC);

  CREATE TABLE auth.one_time_tokens (
    id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_type auth.one_time_token_type NOT NULL, token_hash text NOT NULL CHECK (char_length(token_hash) > 0),
    relates_to text NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamp NOT NULL DEFAULT now());
  CREATE UNIQUE INDEX one_time_tokens_user_id_token_type_key ON auth.one_time_tokens (user_id, token_type);
  CREATE INDEX one_time_tokens_token_hash_hash_idx ON auth.one_time_tokens USING hash (token_hash);
  CREATE INDEX one_time_tokens_relates_to_hash_idx ON auth.one_time_tokens USING hash (relates_to);

  CREATE TABLE auth.mfa_factors (
    id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    friendly_name text, factor_type auth.factor_type NOT NULL, status auth.factor_status NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, secret text, phone text,
    last_challenged_at timestamptz UNIQUE, web_authn_credential jsonb, web_authn_aaguid uuid,
    last_webauthn_challenge_data jsonb);
  CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors (user_id);
  CREATE INDEX factor_id_created_at_idx ON auth.mfa_factors (user_id, created_at);
  CREATE UNIQUE INDEX mfa_factors_user_friendly_name_unique ON auth.mfa_factors (friendly_name, user_id)
    WHERE trim(friendly_name) <> '';
  CREATE UNIQUE INDEX unique_phone_factor_per_user ON auth.mfa_factors (user_id, phone);

  CREATE TABLE auth.mfa_challenges (
    id uuid PRIMARY KEY,
    factor_id uuid NOT NULL CONSTRAINT mfa_challenges_auth_factor_id_fkey REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL, verified_at timestamptz, ip_address inet NOT NULL, otp_code text,
    web_authn_session_data jsonb);
  CREATE INDEX mfa_challenge_created_at_idx ON auth.mfa_challenges (created_at DESC);

  CREATE TABLE auth.mfa_amr_claims (
    session_id uuid NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, authentication_method text NOT NULL,
    id uuid CONSTRAINT amr_id_pk PRIMARY KEY,
    CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey UNIQUE (session_id, authentication_method));

  CREATE TABLE auth.flow_state (
    id uuid PRIMARY KEY, user_id uuid, auth_code text, code_challenge_method auth.code_challenge_method,
    code_challenge text, provider_type text NOT NULL, provider_access_token text, provider_refresh_token text,
    created_at timestamptz, updated_at timestamptz, authentication_method text NOT NULL,
    auth_code_issued_at timestamptz, invite_token text, referrer text, oauth_client_state_id uuid,
    linking_target_id uuid, email_optional boolean NOT NULL DEFAULT false);
  CREATE INDEX idx_auth_code ON auth.flow_state (auth_code);
  CREATE INDEX idx_user_id_auth_method ON auth.flow_state (user_id, authentication_method);
  CREATE INDEX flow_state_created_at_idx ON auth.flow_state (created_at DESC);

  CREATE TABLE auth.audit_log_entries (
    instance_id uuid, id uuid PRIMARY KEY, payload json, created_at timestamptz,
    ip_address varchar(64) NOT NULL DEFAULT '');
  CREATE INDEX audit_logs_instance_id_idx ON auth.audit_log_entries (instance_id);

  CREATE TABLE auth.sso_providers (
    id uuid PRIMARY KEY,
    resource_id text CONSTRAINT "resource_id not empty" CHECK (resource_id = NULL OR char_length(resource_id) > 0),
    created_at timestamptz, updated_at timestamptz, disabled boolean);
  CREATE UNIQUE INDEX sso_providers_resource_id_idx ON auth.sso_providers (lower(resource_id));
  CREATE INDEX sso_providers_resource_id_pattern_idx ON auth.sso_providers (resource_id text_pattern_ops);
  CREATE TABLE auth.sso_domains (
    id uuid PRIMARY KEY, sso_provider_id uuid NOT NULL REFERENCES auth.sso_providers (id) ON DELETE CASCADE,
    domain text NOT NULL CONSTRAINT "domain not empty" CHECK (char_length(domain) > 0),
    created_at timestamptz, updated_at timestamptz);
  CREATE INDEX sso_domains_sso_provider_id_idx ON auth.sso_domains (sso_provider_id);
  CREATE UNIQUE INDEX sso_domains_domain_idx ON auth.sso_domains (lower(domain));

  -- 20240612123726: row-level security on every table there was, with no policy (not on later ones).
  DO $$ DECLARE t record; BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'auth' AND tablename <> 'oauth_clients' LOOP
      EXECUTE format('ALTER TABLE auth.%I ENABLE ROW LEVEL SECURITY', t.tablename);
    END LOOP;
  END $$;

  -- The SQL helpers as GoTrue's migrations define them: a claim from either setting, no fallback.
  CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $fn$;
  CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $fn$;
  CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text $fn$;
  CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
      nullif(current_setting('request.jwt.claims', true), ''))::jsonb $fn$;
`;

/** A session as GoTrue's password sign-in writes it: the row (v2 when `hmac`), its AMR claim, its audit entry. */
async function writeGoTrueSession(
  client: pg.ClientBase,
  userId: string,
  hmac: { key: string; counter: bigint } | null,
): Promise<string> {
  const id = randomUUID();
  await client.query(
    `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip,
       refresh_token_hmac_key, refresh_token_counter)
     VALUES ($1, $2, now() - interval '1 day', now(), 'aal1', (now() AT TIME ZONE 'utc'),
       'Mozilla/5.0 (GoTrue fixture)', '203.0.113.7', $3, $4)`,
    [id, userId, hmac?.key ?? null, hmac?.counter.toString() ?? null],
  );
  await client.query(
    `INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
     VALUES ($1, now() - interval '1 day', now() - interval '1 day', 'password', $2)`,
    [id, randomUUID()],
  );
  await client.query(
    `INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
     VALUES ($1, $2, $3, now() - interval '1 day', '203.0.113.7')`,
    [
      NIL_UUID,
      randomUUID(),
      { action: 'login', actor_id: userId, log_type: 'account', traits: { provider: 'email' } },
    ],
  );
  return id;
}

/**
 * One more session of `userId` signed in through GoTrue, with its live refresh token: a v1 row, or
 * (v2) a new key at counter 1.
 */
export async function addGoTrueSession(
  client: pg.ClientBase,
  userId: string,
  form: 'v1' | 'v2',
): Promise<{ sessionId: string; token: string }> {
  if (form === 'v2') {
    const key = randomBytes(32);
    const sessionId = await writeGoTrueSession(client, userId, {
      key: key.toString('base64url'),
      counter: 1n,
    });
    return { sessionId, token: encodeGoTrueRefreshToken({ sessionId, counter: 1n }, key) };
  }
  const sessionId = await writeGoTrueSession(client, userId, null);
  const token = v1Token();
  await client.query(
    `INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
     VALUES ($1, $2, $3, false, now(), now(), NULL, $4)`,
    [NIL_UUID, token, userId, sessionId],
  );
  return { sessionId, token };
}

/**
 * Builds GoTrue's schema in the (empty) database at `url`, records `versions` as pop does, and writes
 * what GoTrue writes for two users who signed up with an address and a password and signed in: the
 * user rows (bcrypt, metadata), their email identities, a session each with its AMR claim, a v1 token
 * chain for one and a v2 key and counter for the other, and the audit log's entries.
 */
export async function createGoTrueMadeDatabase(
  url: string,
  versions: readonly string[] = GOTRUE_VERSIONS,
): Promise<GoTrueMadeDatabase> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(GOTRUE_SCHEMA);
    await client.query('INSERT INTO auth.schema_migrations (version) SELECT unnest($1::text[])', [versions]);

    const users: [GoTrueUser, GoTrueUser] = [
      { id: randomUUID(), email: 'gail@example.com', password: 'gail-gotrue-pw', fullName: 'Gail Gotrue' },
      { id: randomUUID(), email: 'hugo@example.com', password: 'hugo-gotrue-pw', fullName: 'Hugo Gotrue' },
    ];
    for (const user of users) {
      // GoTrue's sign-up: the metadata holds the sign-up's data and, since 2024, the identity's claims.
      await client.query(
        `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
           confirmation_token, confirmation_sent_at, recovery_token, email_change_token_new, email_change,
           last_sign_in_at, raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at)
         VALUES ($1, $2, 'authenticated', 'authenticated', $3, $4, now() - interval '9 days', '',
           now() - interval '10 days', '', '', '', now() - interval '1 day',
           '{"provider": "email", "providers": ["email"]}', $5, NULL, now() - interval '10 days', now())`,
        [
          NIL_UUID,
          user.id,
          user.email,
          await goTrueHash(user.password),
          {
            full_name: user.fullName,
            sub: user.id,
            email: user.email,
            email_verified: true,
            phone_verified: false,
          },
        ],
      );
      await client.query(
        `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at,
           created_at, updated_at)
         VALUES ($1::text, $1::uuid, $2, 'email', now() - interval '10 days', now() - interval '10 days', now())`,
        [user.id, { sub: user.id, email: user.email, email_verified: true, phone_verified: false }],
      );
    }

    const session = (userId: string, hmac: { key: string; counter: bigint } | null) =>
      writeGoTrueSession(client, userId, hmac);

    // Gail: a v1 session refreshed once. The first token is revoked, its successor names it as parent.
    const v1Session = await session(users[0].id, null);
    const rotatedToken = v1Token();
    const token = v1Token();
    await client.query(
      `INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
       VALUES ($1, $2, $4, true, now() - interval '1 day', now() - interval '1 hour', NULL, $5),
              ($1, $3, $4, false, now() - interval '1 hour', now() - interval '1 hour', $2, $5)`,
      [NIL_UUID, rotatedToken, token, users[0].id, v1Session],
    );

    // Hugo: a v2 session at counter 7; the token of counter 6 is the one it replaced.
    const key = randomBytes(32);
    const counter = 7n;
    const v2Session = await session(users[1].id, { key: key.toString('base64url'), counter });
    await client.query('COMMIT');
    return {
      users,
      v1: { sessionId: v1Session, token, rotatedToken },
      v2: {
        sessionId: v2Session,
        counter,
        token: encodeGoTrueRefreshToken({ sessionId: v2Session, counter }, key),
        staleToken: encodeGoTrueRefreshToken({ sessionId: v2Session, counter: counter - 1n }, key),
      },
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}
