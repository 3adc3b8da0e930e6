import pg from 'pg';
import { FLOW_STATE_GOTRUE_VERSIONS, gotrueFlowState } from './flow-state-schema.js';
import { accountForEveryUser } from './gotrue-accounts.js';
import { softDeleteEndsSessionsSql } from './gotrue-deleted-users.js';
import {
  endSessionsBelowAal2Sql,
  factorVerifiedEndsSessionsSql,
  factorVerifiedLocksUserSql,
} from './gotrue-factors.js';
import {
  gotrueOneTimeTokens,
  oneTimeTokenTables,
  SESSION_AND_TOKEN_GOTRUE_VERSIONS,
} from './gotrue-one-time-tokens.js';
import { REPRODUCED_GOTRUE_VERSIONS, reproducedVersionsTouches } from './gotrue-reproduced-versions.js';
import { gotrueSessions } from './gotrue-sessions.js';
import { gotrueUnfilledTables, UNFILLED_TABLES_GOTRUE_VERSIONS } from './gotrue-unfilled-tables.js';
import { normalizeStoredLogins } from './login-keys.js';
import {
  fillNameSkeletons,
  lookalikeKeysSql,
  nameSkeletonsSql,
  recomputeNameSkeletonsSql,
  repairNameSkeletons,
} from './name-skeletons.js';
import {
  preRequestAnonymousExit,
  preRequestFewerExpressions,
  preRequestInOneQuery,
  preRequestLegacyClaims,
  preRequestOnOneRow,
  preRequestOnVouches,
  preRequestPinned,
  preRequestRoleInVouches,
} from './pre-request.js';
import { preRequestAudience } from './pre-request-audience.js';
import { preRequestClaimsRecord } from './pre-request-claims-record.js';
import { jwtFunctionSql, preRequestLegacyAudience } from './pre-request-legacy-audience.js';
import { passwordWrittenEndsKnownClientsSql } from './password-written-elsewhere.js';
import { preRequestStanding } from './pre-request-standing.js';
import { preRequestSameWork } from './pre-request-same-work.js';
import { providersBackfillSql } from './providers-sql.js';
import { restauthPrivilegesSql } from './restauth-privileges.js';
import { dropRefreshInOneStatement, refreshInOneStatement } from './refresh-exchange.js';
import { sessionTables, successorChains } from './session-sql.js';
import { openSessionFunction, openSignInFunction, type OpeningVersion } from './open-sign-in.js';
import { unansweredRefreshesSql } from './unanswered-refreshes.js';

/**
 * restauth's schema as versioned migrations. The SQL is built from the
 * configured names only after each passed `identifier()` (a strict pattern)
 * and is quoted with pg's escapeIdentifier: no SQL is made from unchecked input.
 *
 * Migration 1 creates postgrest-auth's exact users table when it is missing,
 * so a database postgrest-auth created and a new one go through the same
 * steps, and an existing postgrest-auth database is upgraded in place.
 */
export interface SchemaNames {
  schema: string;
  table: string;
  anonymousRole: string;
  authenticatedRole: string;
  /** PostgREST's login role, granted each per-user role (null: not managed). */
  authenticatorRole?: string | null;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** A step SQL cannot do, run after `sql` in the same transaction. */
  run?: (client: pg.ClientBase) => Promise<void>;
  /**
   * The GoTrue versions whose whole effect is in the schema once this migration (with the ones
   * before it) ran, recorded by migrate() in `<schema>.schema_migrations` in the same transaction,
   * as GoTrue's migrator (pop) records them: GoTrue pointed at the database then skips them. A
   * version goes on the migration that completes it, and only when nothing it does is missing.
   */
  gotrue?: readonly string[];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** A canonical uuid as an SQL regular expression: what may be cast to uuid without an error. */
export const UUID_PATTERN = `'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'`;

function identifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name))
    throw new Error(`${what} "${name}" is not a valid SQL identifier (letters, digits, _)`);
  return pg.escapeIdentifier(name);
}

/**
 * restauth's own schema beside GoTrue's (docs/postgres-schema.md): `restauth` for the usual `auth`,
 * `<schema>_restauth` for another, so two configured schemas in one database never share it.
 */
export function restauthSchemaName(schema: string): string {
  return schema === 'auth' ? 'restauth' : `${schema}_restauth`;
}

export function quotedNames(names: SchemaNames) {
  return {
    schema: identifier(names.schema, 'store.schema'),
    table: identifier(names.table, 'store.table'),
    anon: identifier(names.anonymousRole, 'roles.anonymous'),
    authenticated: identifier(names.authenticatedRole, 'roles.authenticated'),
    authenticator: names.authenticatorRole
      ? identifier(names.authenticatorRole, 'roles.authenticator')
      : null,
    restauth: identifier(restauthSchemaName(names.schema), 'store.schema'),
    /** The authenticated role's plain name, for bind parameters. */
    authenticatedName: names.authenticatedRole,
    anonLiteral: pg.escapeLiteral(names.anonymousRole),
    authenticatedLiteral: pg.escapeLiteral(names.authenticatedRole),
  };
}

export function migrations(names: SchemaNames): Migration[] {
  const q = quotedNames(names);
  const users = `${q.schema}.${q.table}`;
  // open_sign_in and open_session, rewritten together as of `version` (each migration that changes
  // either recreates both, so their shared rules stay one version).
  const sessionOpeners = (version: OpeningVersion) =>
    openSignInFunction(q, sessionTables(q), version) + openSessionFunction(q, sessionTables(q), version);
  const createRole = (role: string, literal: string) => `
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal}) THEN
        CREATE ROLE ${role} NOLOGIN;
      END IF;
    -- Another session created it meanwhile: roles are cluster-wide, so instances migrating other databases
    -- or schemas race here despite the advisory lock, and the loser sees unique_violation on pg_authid.
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$;`;
  return [
    {
      version: 1,
      name: 'postgrest-auth users table, extended',
      sql: `
        CREATE SCHEMA IF NOT EXISTS ${q.schema};
        CREATE TABLE IF NOT EXISTS ${users} (
          id serial PRIMARY KEY,
          username varchar(20) UNIQUE NOT NULL,
          username_lowercase varchar(20) UNIQUE NOT NULL,
          email text UNIQUE,
          password text NOT NULL,
          token_count integer NOT NULL DEFAULT 0
        );
        -- restauth accounts may have no user name (email only), no password (invited), longer names.
        ALTER TABLE ${users} ALTER COLUMN username DROP NOT NULL, ALTER COLUMN username TYPE text,
          ALTER COLUMN username_lowercase DROP NOT NULL, ALTER COLUMN username_lowercase TYPE text,
          ALTER COLUMN password DROP NOT NULL;
        ALTER TABLE ${users}
          ADD COLUMN IF NOT EXISTS email_confirmed_at timestamptz,
          ADD COLUMN IF NOT EXISTS role text,
          ADD COLUMN IF NOT EXISTS profile jsonb NOT NULL DEFAULT '{}',
          ADD COLUMN IF NOT EXISTS app_metadata jsonb NOT NULL DEFAULT '{}',
          ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
          ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now(),
          ADD COLUMN IF NOT EXISTS last_sign_in_at timestamptz;
        -- postgrest-auth stored emails as given; restauth looks them up lower-cased.
        UPDATE ${users} SET email = lower(email) WHERE email <> lower(email);
        -- postgrest-auth's users had a database role named after them.
        UPDATE ${users} u SET role = u.username_lowercase
          WHERE u.role IS NULL AND EXISTS (SELECT FROM pg_roles r WHERE r.rolname = u.username_lowercase);

        CREATE TABLE ${q.schema}.sessions (
          id uuid PRIMARY KEY,
          user_id integer NOT NULL REFERENCES ${users}(id) ON DELETE CASCADE,
          created_at timestamptz NOT NULL,
          refreshed_at timestamptz NOT NULL,
          not_after timestamptz NOT NULL,
          revoked_at timestamptz,
          revoked_reason text,
          refresh_secret text NOT NULL
        );
        CREATE INDEX sessions_user_id ON ${q.schema}.sessions (user_id);
        CREATE TABLE ${q.schema}.refresh_tokens (
          hash text PRIMARY KEY,
          session_id uuid NOT NULL REFERENCES ${q.schema}.sessions(id) ON DELETE CASCADE,
          created_at timestamptz NOT NULL,
          rotated_at timestamptz
        );
        CREATE INDEX refresh_tokens_session_id ON ${q.schema}.refresh_tokens (session_id);
        CREATE TABLE ${q.schema}.one_time_tokens (
          hash text PRIMARY KEY,
          user_id integer NOT NULL REFERENCES ${users}(id) ON DELETE CASCADE,
          purpose text NOT NULL,
          created_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          data jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX one_time_tokens_user_purpose ON ${q.schema}.one_time_tokens (user_id, purpose);
      `,
    },
    {
      version: 2,
      name: 'PostgREST roles, claims helpers and the pre-request check',
      sql: `
        ${createRole(q.anon, q.anonLiteral)}
        ${createRole(q.authenticated, q.authenticatedLiteral)}
        GRANT USAGE ON SCHEMA ${q.schema} TO ${q.anon}, ${q.authenticated};
        GRANT SELECT (username_lowercase, token_count) ON ${users} TO ${q.anon};

        -- The request's claims: PostgREST >= 9 sets request.jwt.claims (JSON); older versions set one
        -- setting per claim. An unset setting may read as '' rather than NULL.
        CREATE OR REPLACE FUNCTION ${q.schema}.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $fn$
          SELECT coalesce(
            nullif(current_setting('request.jwt.claims', true), '')::jsonb,
            nullif(jsonb_strip_nulls(jsonb_build_object(
              'sub', nullif(current_setting('request.jwt.claim.sub', true), ''),
              'role', nullif(current_setting('request.jwt.claim.role', true), ''),
              'email', nullif(current_setting('request.jwt.claim.email', true), ''),
              'session_id', nullif(current_setting('request.jwt.claim.session_id', true), ''),
              'token_version', nullif(current_setting('request.jwt.claim.token_version', true), ''),
              'count', nullif(current_setting('request.jwt.claim.count', true), '')
            )), '{}'::jsonb),
            '{}'::jsonb)
        $fn$;
        CREATE OR REPLACE FUNCTION ${q.schema}.uid() RETURNS text LANGUAGE sql STABLE AS $fn$
          SELECT ${q.schema}.jwt() ->> 'sub'
        $fn$;
        CREATE OR REPLACE FUNCTION ${q.schema}.role() RETURNS text LANGUAGE sql STABLE AS $fn$
          SELECT ${q.schema}.jwt() ->> 'role'
        $fn$;

        -- PostgREST's pre-request: refuses a token of a deleted user, a token issued before a password
        -- change (token_version, or postgrest-auth's count), and one whose session has ended.
        -- SQLSTATE 28P01 (invalid_password) is what postgrest-auth raised: PostgREST answers 403.
        -- No SET search_path clause (it makes every call save and restore settings, which doubled the cost
        -- of a trivial request): every name below is schema-qualified, and pg_catalog is searched first.
        CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
          LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
        DECLARE
          claims jsonb := ${q.schema}.jwt();
          claimed_version text := coalesce(claims ->> 'token_version', claims ->> 'count');
          session_text text := claims ->> 'session_id';
          user_sub text := claims ->> 'sub';
          current_count integer;
          user_id integer;
          session_row record;
        BEGIN
          IF claims = '{}'::jsonb OR (user_sub IS NULL AND claimed_version IS NULL) THEN
            RETURN; -- anonymous request
          END IF;
          IF user_sub ~ '^[0-9]{1,9}$' THEN
            SELECT u.id, u.token_count INTO user_id, current_count FROM ${users} u WHERE u.id = user_sub::integer;
          ELSE
            -- postgrest-auth tokens name the user by its role.
            SELECT u.id, u.token_count INTO user_id, current_count FROM ${users} u
              WHERE u.username_lowercase = claims ->> 'role';
          END IF;
          IF user_id IS NULL THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
          END IF;
          IF claimed_version IS NULL OR claimed_version !~ '^[0-9]{1,9}$' OR claimed_version::integer <> current_count THEN
            RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
          END IF;
          IF session_text IS NOT NULL THEN
            IF session_text !~ '^[0-9a-fA-F-]{36}$' THEN
              RAISE invalid_password USING MESSAGE = 'token refused: malformed session';
            END IF;
            SELECT s.revoked_at, s.not_after, s.user_id INTO session_row
              FROM ${q.schema}.sessions s WHERE s.id = session_text::uuid;
            IF NOT FOUND OR session_row.user_id <> user_id OR session_row.revoked_at IS NOT NULL
               OR session_row.not_after <= now() THEN
              RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
            END IF;
          END IF;
        END
        $fn$;
        GRANT EXECUTE ON FUNCTION ${q.schema}.jwt(), ${q.schema}.uid(), ${q.schema}.role(),
          ${q.schema}.check_token_count() TO ${q.anon}, ${q.authenticated};
      `,
    },
    {
      version: 3,
      name: 'rate-limit windows shared by every instance',
      sql: `
        CREATE TABLE ${q.schema}.rate_limits (
          key text PRIMARY KEY,
          reset_at timestamptz NOT NULL,
          count integer NOT NULL
        );
      `,
    },
    {
      version: 4,
      name: 'mail outbox shared by every instance',
      sql: `
        CREATE TABLE ${q.schema}.mail_outbox (
          id uuid PRIMARY KEY,
          message jsonb NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL,
          last_error text,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX mail_outbox_due ON ${q.schema}.mail_outbox (next_attempt_at);
      `,
    },
    {
      version: 5,
      name: 'one-time codes beside links, and the audit log',
      sql: `
        -- A typed code consumes the same token as its link: one code names one token.
        ALTER TABLE ${q.schema}.one_time_tokens ADD COLUMN code_hash text;
        CREATE UNIQUE INDEX one_time_tokens_code_hash ON ${q.schema}.one_time_tokens (code_hash)
          WHERE code_hash IS NOT NULL;

        -- No foreign key to the users: the events of a deleted user are the record of what happened.
        -- Ids are text (the Store's ids); seq keeps the insertion order of events of the same instant.
        CREATE TABLE ${q.schema}.audit_log (
          id text PRIMARY KEY,
          seq bigint GENERATED ALWAYS AS IDENTITY,
          at timestamptz NOT NULL,
          action text NOT NULL,
          actor_id text,
          user_id text,
          ip text,
          data jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_at ON ${q.schema}.audit_log (at);
        CREATE INDEX audit_log_user_id_at ON ${q.schema}.audit_log (user_id, at);
      `,
    },
    {
      version: 6,
      name: 'a uuid per user, its public id',
      sql: `
        -- Supabase clients (auth-js) refuse user ids that are not UUIDs, and Supabase policies expect
        -- auth.uid() to be one: every user gets a uuid, the id the Store, the tokens' sub and the APIs
        -- show. The volatile default is evaluated per row, so existing users (postgrest-auth's too) each
        -- get their own. The serial id stays the internal key the foreign keys use.
        ALTER TABLE ${users} ADD COLUMN uid uuid NOT NULL DEFAULT gen_random_uuid();
        -- Unnamed: PostgreSQL derives a name from the table's (and shortens it if need be).
        CREATE UNIQUE INDEX ON ${users} (uid);

        -- The pre-request of migration 2, now also finding a user by the uuid restauth tokens carry in sub.
        -- An integer sub (a token issued before this migration) and postgrest-auth's role-only tokens
        -- are still found as before.
        CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
          LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
        DECLARE
          claims jsonb := ${q.schema}.jwt();
          claimed_version text := coalesce(claims ->> 'token_version', claims ->> 'count');
          session_text text := claims ->> 'session_id';
          user_sub text := claims ->> 'sub';
          current_count integer;
          user_id integer;
          session_row record;
        BEGIN
          IF claims = '{}'::jsonb OR (user_sub IS NULL AND claimed_version IS NULL) THEN
            RETURN; -- anonymous request
          END IF;
          IF user_sub ~ ${UUID_PATTERN} THEN
            SELECT u.id, u.token_count INTO user_id, current_count FROM ${users} u WHERE u.uid = user_sub::uuid;
          ELSIF user_sub ~ '^[0-9]{1,9}$' THEN
            SELECT u.id, u.token_count INTO user_id, current_count FROM ${users} u WHERE u.id = user_sub::integer;
          ELSE
            -- postgrest-auth tokens name the user by its role.
            SELECT u.id, u.token_count INTO user_id, current_count FROM ${users} u
              WHERE u.username_lowercase = claims ->> 'role';
          END IF;
          IF user_id IS NULL THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
          END IF;
          IF claimed_version IS NULL OR claimed_version !~ '^[0-9]{1,9}$' OR claimed_version::integer <> current_count THEN
            RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
          END IF;
          IF session_text IS NOT NULL THEN
            -- The full shape (migration 2 checked 36 hex digits or dashes, which a cast could still refuse).
            IF session_text !~ ${UUID_PATTERN} THEN
              RAISE invalid_password USING MESSAGE = 'token refused: malformed session';
            END IF;
            SELECT s.revoked_at, s.not_after, s.user_id INTO session_row
              FROM ${q.schema}.sessions s WHERE s.id = session_text::uuid;
            IF NOT FOUND OR session_row.user_id <> user_id OR session_row.revoked_at IS NOT NULL
               OR session_row.not_after <= now() THEN
              RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
            END IF;
          END IF;
        END
        $fn$;
        -- auth.uid() stays as migration 2 made it, returning text where Supabase's returns uuid; what it
        -- returns is now a uuid string. Said on the function, where \\df+ and schema browsers show it.
        COMMENT ON FUNCTION ${q.schema}.uid() IS
          'The token''s sub claim as text: for restauth tokens the user''s uuid (users.uid), e.g. owner = auth.uid() on a text column, or auth.uid()::uuid against a uuid column';
      `,
    },
    {
      version: 7,
      name: 'a faster pre-request for restauth tokens',
      sql: `
        -- PostgREST calls the pre-request on every request, so its cost is every request's. A restauth
        -- token (a uuid sub and a session) is checked with one indexed lookup of the user and its session
        -- together; any other token (an integer sub from before migration 6, postgrest-auth's role-only
        -- tokens) goes through migration 6's function, kept under a new name with its grants.
        ALTER FUNCTION ${q.schema}.check_token_count() RENAME TO check_token_general;
        CREATE FUNCTION ${q.schema}.check_token_count() RETURNS void
          LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
        DECLARE
          claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, ${q.schema}.jwt());
          user_sub text := claims ->> 'sub';
          session_text text := claims ->> 'session_id';
          checked record;
        BEGIN
          -- Anonymous requests (no sub) and other token shapes: the general check (IS NULL first: NULL !~ x is NULL).
          IF user_sub IS NULL OR session_text IS NULL OR user_sub !~ ${UUID_PATTERN} OR session_text !~ ${UUID_PATTERN} THEN
            PERFORM ${q.schema}.check_token_general();
            RETURN;
          END IF;
          SELECT u.token_count, s.user_id = u.id AS own_session, s.revoked_at, s.not_after INTO checked
            FROM ${users} u LEFT JOIN ${q.schema}.sessions s ON s.id = session_text::uuid
            WHERE u.uid = user_sub::uuid;
          IF NOT FOUND THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
          END IF;
          IF coalesce(claims ->> 'token_version', claims ->> 'count') IS DISTINCT FROM checked.token_count::text THEN
            RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
          END IF;
          IF checked.own_session IS NOT TRUE OR checked.revoked_at IS NOT NULL OR checked.not_after <= now() THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
          END IF;
        END
        $fn$;
        GRANT EXECUTE ON FUNCTION ${q.schema}.check_token_count() TO ${q.anon}, ${q.authenticated};
      `,
    },
    {
      version: 8,
      name: 'dead mails kept for inspection',
      sql: `
        -- The mail worker gives up on a mail after its last attempt; the row stays, never due again
        -- (next_attempt_at NULL), for an operator to look at. Mails dead under the first worker's rule
        -- (8 failed attempts) are marked so.
        ALTER TABLE ${q.schema}.mail_outbox ALTER COLUMN next_attempt_at DROP NOT NULL;
        UPDATE ${q.schema}.mail_outbox SET next_attempt_at = NULL WHERE attempts >= 8;
      `,
    },
    {
      version: 9,
      name: 'one-time codes keyed, counted and looked up by their address',
      sql: `
        -- A code is now an HMAC with a server key, found only with the address it was mailed to
        -- (recipient), and dies after a few wrong guesses (failed_attempts). The codes of tokens
        -- already mailed were plain SHA-256 hashes anyone could compute: they stop working; their
        -- links go on working.
        ALTER TABLE ${q.schema}.one_time_tokens
          ADD COLUMN recipient text,
          ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0;
        UPDATE ${q.schema}.one_time_tokens SET code_hash = NULL WHERE code_hash IS NOT NULL;
        CREATE INDEX one_time_tokens_recipient ON ${q.schema}.one_time_tokens (recipient, purpose)
          WHERE recipient IS NOT NULL;
      `,
    },
    {
      version: 10,
      name: 'database roles owned by their user, bans, and a pre-request that checks both',
      sql: `
        -- A user's own database role (roles.perUser) is one restauth created for that very user, in the
        -- transaction that created the user (user_roles.ts); deleting the user drops it (the row goes
        -- with the user). adopted: the role came from before this table (postgrest-auth's roles): only
        -- those may be named by postgrest-auth's role-only tokens, which restauth never issues.
        CREATE TABLE ${q.schema}.user_roles (
          role text PRIMARY KEY,
          user_id integer NOT NULL UNIQUE REFERENCES ${users}(id) ON DELETE CASCADE,
          adopted boolean NOT NULL DEFAULT false,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        -- Roles handed out before: kept when they are what postgrest-auth and restauth made (a plain
        -- NOLOGIN member of the authenticated role); any other (a login or privileged role that merely
        -- had the user's name) is taken back: those users' tokens name the authenticated role from now on.
        INSERT INTO ${q.schema}.user_roles (role, user_id, adopted)
          SELECT u.role, u.id, true FROM ${users} u JOIN pg_roles r ON r.rolname = u.role
          WHERE NOT (r.rolsuper OR r.rolcanlogin OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication
                     OR r.rolbypassrls)
            AND pg_has_role(r.oid, ${q.authenticatedLiteral}, 'MEMBER');
        UPDATE ${users} u SET role = NULL
          WHERE u.role IS NOT NULL AND NOT EXISTS (SELECT FROM ${q.schema}.user_roles r WHERE r.user_id = u.id);

        -- A ban: until then the user may not sign in, refresh, or use a token (core/auth-service.ts).
        ALTER TABLE ${users} ADD COLUMN banned_until timestamptz;

        -- The general check (migration 7's fallback) now also refuses: a token whose role claim is not its
        -- user's role (or the authenticated role), a token with a subject but no session (every token
        -- restauth issues names one), a subject of no known shape, a role-only token naming a role that
        -- postgrest-auth did not hand out, and a banned user's token.
        CREATE OR REPLACE FUNCTION ${q.schema}.check_token_general() RETURNS void
          LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
        DECLARE
          claims jsonb := ${q.schema}.jwt();
          claimed_version text := coalesce(claims ->> 'token_version', claims ->> 'count');
          claimed_role text := claims ->> 'role';
          session_text text := claims ->> 'session_id';
          user_sub text := claims ->> 'sub';
          checked record;
          session_row record;
        BEGIN
          IF claims = '{}'::jsonb OR (user_sub IS NULL AND claimed_version IS NULL) THEN
            RETURN; -- anonymous request
          END IF;
          IF user_sub IS NULL THEN
            -- postgrest-auth tokens name the user by its role.
            SELECT u.id, u.token_count, u.role, u.banned_until INTO checked
              FROM ${q.schema}.user_roles r JOIN ${users} u ON u.id = r.user_id
              WHERE r.role = claimed_role AND r.adopted;
          ELSIF user_sub ~ ${UUID_PATTERN} THEN
            SELECT u.id, u.token_count, u.role, u.banned_until INTO checked FROM ${users} u
              WHERE u.uid = user_sub::uuid;
          ELSIF user_sub ~ '^[0-9]{1,9}$' THEN
            SELECT u.id, u.token_count, u.role, u.banned_until INTO checked FROM ${users} u
              WHERE u.id = user_sub::integer;
          ELSE
            RAISE invalid_password USING MESSAGE = 'token refused: malformed subject';
          END IF;
          IF NOT FOUND THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
          END IF;
          IF (claimed_role IN (coalesce(checked.role, ${q.authenticatedLiteral}), ${q.authenticatedLiteral})) IS NOT TRUE THEN
            RAISE invalid_password USING MESSAGE = 'token refused: its role is not its user''s';
          END IF;
          IF checked.banned_until > now() THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user is banned';
          END IF;
          IF claimed_version IS NULL OR claimed_version !~ '^[0-9]{1,9}$' OR claimed_version::integer <> checked.token_count THEN
            RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
          END IF;
          IF user_sub IS NOT NULL THEN
            IF session_text IS NULL OR session_text !~ ${UUID_PATTERN} THEN
              RAISE invalid_password USING MESSAGE = 'token refused: it names no session';
            END IF;
            SELECT s.revoked_at, s.not_after, s.user_id INTO session_row
              FROM ${q.schema}.sessions s WHERE s.id = session_text::uuid;
            IF NOT FOUND OR session_row.user_id <> checked.id OR session_row.revoked_at IS NOT NULL
               OR session_row.not_after <= now() THEN
              RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
            END IF;
          END IF;
        END
        $fn$;

        -- The fast path of migration 7 with the same two new checks (role, ban), in the same one lookup.
        CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
          LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
        DECLARE
          claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, ${q.schema}.jwt());
          user_sub text := claims ->> 'sub';
          session_text text := claims ->> 'session_id';
          checked record;
        BEGIN
          -- Anonymous requests (no sub) and other token shapes: the general check (IS NULL first: NULL !~ x is NULL).
          IF user_sub IS NULL OR session_text IS NULL OR user_sub !~ ${UUID_PATTERN} OR session_text !~ ${UUID_PATTERN} THEN
            PERFORM ${q.schema}.check_token_general();
            RETURN;
          END IF;
          SELECT u.token_count, u.role, u.banned_until, s.user_id = u.id AS own_session, s.revoked_at, s.not_after
            INTO checked
            FROM ${users} u LEFT JOIN ${q.schema}.sessions s ON s.id = session_text::uuid
            WHERE u.uid = user_sub::uuid;
          IF NOT FOUND THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
          END IF;
          IF (claims ->> 'role' IN (coalesce(checked.role, ${q.authenticatedLiteral}), ${q.authenticatedLiteral})) IS NOT TRUE THEN
            RAISE invalid_password USING MESSAGE = 'token refused: its role is not its user''s';
          END IF;
          IF checked.banned_until > now() THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the user is banned';
          END IF;
          IF coalesce(claims ->> 'token_version', claims ->> 'count') IS DISTINCT FROM checked.token_count::text THEN
            RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
          END IF;
          IF checked.own_session IS NOT TRUE OR checked.revoked_at IS NOT NULL OR checked.not_after <= now() THEN
            RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
          END IF;
        END
        $fn$;
      `,
    },
    {
      version: 11,
      name: 'one one-time token per user and purpose',
      sql: `
        -- A new token replaces the earlier one of its user and purpose, and the mail throttle reads
        -- the earlier one: a unique pair makes both one atomic upsert. Racing requests could leave
        -- several before: the newest of each pair stays.
        DELETE FROM ${q.schema}.one_time_tokens a USING ${q.schema}.one_time_tokens b
          WHERE a.user_id = b.user_id AND a.purpose = b.purpose AND (a.created_at, a.hash) < (b.created_at, b.hash);
        DROP INDEX ${q.schema}.one_time_tokens_user_purpose;
        CREATE UNIQUE INDEX one_time_tokens_user_purpose ON ${q.schema}.one_time_tokens (user_id, purpose);
      `,
    },
    {
      version: 12,
      name: 'logins normalised in core',
      // username_lowercase and email hold core's login keys (identity.ts), which SQL's lower() is not.
      sql: '',
      run: (client) => normalizeStoredLogins(client, users),
    },
    {
      version: 13,
      name: "Supabase's auth.uid() returning uuid, and auth.email()",
      sql: `
        -- Supabase's SQL compares auth.uid() with uuid columns: (select auth.uid()) = user_id, and
        -- references auth.users(id). The text function of migration 2 is renamed, not dropped: the
        -- policies, defaults and views written against it name it by its identity, not its name, so they
        -- keep it (and show it as uid_text) and go on working unchanged; new SQL gets the uuid one.
        ALTER FUNCTION ${q.schema}.uid() RENAME TO uid_text;
        COMMENT ON FUNCTION ${q.schema}.uid_text() IS
          'auth.uid() before restauth migration 13: the sub claim as text. SQL written against it keeps it; auth.uid() returns uuid';
        -- As Supabase's: the sub claim as a uuid, from either claim setting (jwt()). A sub that is no uuid
        -- (a token from before migration 6 carried the serial id) is NULL, not an error: it matches no row.
        CREATE FUNCTION ${q.schema}.uid() RETURNS uuid LANGUAGE sql STABLE AS $fn$
          SELECT CASE WHEN ${q.schema}.jwt() ->> 'sub' ~ ${UUID_PATTERN} THEN (${q.schema}.jwt() ->> 'sub')::uuid END
        $fn$;
        COMMENT ON FUNCTION ${q.schema}.uid() IS
          'The token''s sub claim as a uuid (the user''s id), as Supabase defines it; NULL without one';
        CREATE OR REPLACE FUNCTION ${q.schema}.email() RETURNS text LANGUAGE sql STABLE AS $fn$
          SELECT ${q.schema}.jwt() ->> 'email'
        $fn$;
        GRANT EXECUTE ON FUNCTION ${q.schema}.uid(), ${q.schema}.email() TO ${q.anon}, ${q.authenticated};
      `,
    },
    {
      version: 14,
      name: "users in GoTrue's auth.users, restauth's part of them in restauth.accounts",
      sql: gotrueUsers(q, users),
    },
    {
      version: 15,
      name: "GoTrue's auth.identities, an email identity per user with an address",
      sql: gotrueIdentities(q),
    },
    {
      version: 16,
      name: "restauth's own tables (mail outbox, rate limits, roles, audit log, migrations) in restauth's schema",
      sql: restauthOwnTables(q),
    },
    {
      version: 17,
      name: "sessions and refresh tokens in GoTrue's auth.sessions and auth.refresh_tokens, restauth's part in restauth",
      sql: gotrueSessions(q),
    },
    {
      version: 18,
      name: "GoTrue's MFA tables, audit_log_entries, instances and schema_migrations, and its versions recorded",
      sql: gotrueUnfilledTables(q),
      gotrue: UNFILLED_TABLES_GOTRUE_VERSIONS,
    },
    {
      version: 19,
      name: 'an account for every user, also those GoTrue or SQL insert',
      sql: accountForEveryUser(q),
    },
    {
      version: 20,
      name: "GoTrue's auth.flow_state: PKCE flows of the mailed links",
      sql: gotrueFlowState(q),
      gotrue: FLOW_STATE_GOTRUE_VERSIONS,
    },
    {
      version: 21,
      name: "one-time tokens in restauth.code_tokens, shown in GoTrue's auth.one_time_tokens",
      sql: gotrueOneTimeTokens(q),
      gotrue: SESSION_AND_TOKEN_GOTRUE_VERSIONS,
    },
    {
      version: 22,
      name: 'the GoTrue versions migrations 13-15 reproduced, recorded',
      sql: reproducedVersionsTouches(q),
      gotrue: REPRODUCED_GOTRUE_VERSIONS,
    },
    {
      version: 23,
      name: "a refresh in one statement: HMAC-SHA256 key blocks beside each session's secret",
      sql: refreshInOneStatement(q, sessionTables(q)),
    },
    {
      version: 24,
      name: "the pre-request's fast path in one query",
      sql: preRequestInOneQuery(q),
    },
    {
      version: 25,
      name: 'refresh tokens found, then rotated, by their hashes only: migration 23 undone',
      sql: dropRefreshInOneStatement(q, sessionTables(q)),
    },
    {
      version: 26,
      name: "the pre-request's fast path on one row per session, kept by triggers",
      sql: preRequestOnOneRow(q),
    },
    {
      version: 27,
      name: "the pre-request's fast path compares the session's row with the claims in one containment, one range test and one text comparison",
      sql: preRequestOnVouches(q),
    },
    {
      version: 28,
      name: 'refresh-token successors under a server key for new sessions (session_secrets.chain)',
      sql: successorChains(sessionTables(q)),
    },
    {
      version: 29,
      name: "the pre-request's functions resolve no name in their caller's search path",
      sql: preRequestPinned(q),
    },
    {
      version: 30,
      name: "the pre-request's fast path also reads the claims PostgREST before 12 sets one setting each",
      sql: preRequestLegacyClaims(q),
    },
    {
      version: 31,
      name: "app_metadata's provider and providers stored from the identities, as GoTrue keeps them",
      sql: providersBackfillSql(`${q.schema}.users`, `${q.schema}.identities`),
    },
    {
      version: 32,
      name: "the pre-request's verdicts of migration 30 in fewer expressions, set up again in every transaction",
      sql: preRequestFewerExpressions(q),
    },
    {
      version: 33,
      name: "the pre-request's session row vouches for the role too, found by a hash index",
      sql: preRequestRoleInVouches(q),
    },
    {
      version: 34,
      name: 'the pre-request lets an anonymous request through itself, not through the general check',
      sql: preRequestAnonymousExit(q),
    },
    {
      version: 35,
      name: "the pre-request refuses a token whose aud is not its user's audience",
      sql: preRequestAudience(q),
    },
    {
      version: 36,
      name: "a password sign-in's writes and its session cap in one call (open_sign_in), and any other session's (open_session)",
      sql: sessionOpeners(36),
    },
    {
      version: 37,
      name: 'user names unique by their UTS #39 skeletons: a look-alike of a name is taken as the name is',
      sql: nameSkeletonsSql(`${q.restauth}.accounts`),
      run: async (client) => {
        await fillNameSkeletons(client, `${q.restauth}.accounts`);
      },
    },
    {
      version: 39,
      name: "the general pre-request check, and so per-claim settings (PostgREST before 12), refuse an aud that is not the user's",
      sql: preRequestLegacyAudience(q),
    },
    {
      version: 40,
      name: 'open_sign_in and open_session open no session for a user banned meanwhile: checked on the row they lock',
      sql: sessionOpeners(40),
    },
    {
      version: 41,
      name: 'user names skeletons computed again: confusables.txt 17.0.0, ASCII names apart, compared case-insensitively',
      sql: recomputeNameSkeletonsSql(`${q.restauth}.accounts`),
      run: async (client) => {
        await fillNameSkeletons(client, `${q.restauth}.accounts`);
      },
    },
    {
      version: 43,
      name: 'spent id_tokens, so one signs in once (grant_type=id_token), kept until they expire',
      sql: `
        CREATE TABLE ${q.restauth}.spent_id_tokens (
          hash text PRIMARY KEY,
          keep_until timestamptz NOT NULL
        );
        CREATE INDEX spent_id_tokens_keep_until_idx ON ${q.restauth}.spent_id_tokens (keep_until);
      `,
    },
    {
      version: 44,
      name: 'a link flow keeps the session that started it: the callback links only while it is live',
      // No backfill: a link flow from before has no session to check and is refused (it lives 300 s).
      // restauth's table, not a column of GoTrue's flow_state (a database GoTrue made lacks it).
      sql: `CREATE TABLE ${q.restauth}.link_flow_sessions (
          flow_id uuid PRIMARY KEY REFERENCES ${q.schema}.flow_state (id) ON DELETE CASCADE,
          session_id uuid NOT NULL
        );`,
    },
    {
      version: 45,
      name: 'a linkIdentity flow with PKCE links its identity when its code is exchanged, kept till then',
      // restauth's table, as 44's: a database GoTrue made has no such column in flow_state.
      sql: `CREATE TABLE ${q.restauth}.pending_identity_links (
          flow_id uuid PRIMARY KEY REFERENCES ${q.schema}.flow_state (id) ON DELETE CASCADE,
          link text NOT NULL
        );`,
    },
    {
      version: 47,
      name: 'no session opens or refreshes for a user with a verified MFA factor; verifying one ends their aal1 sessions',
      sql: sessionOpeners(47) + factorVerifiedEndsSessionsSql(q, sessionTables(q)),
    },
    {
      version: 48,
      name: 'user names also by their whole UTS #39 skeletons, and with the name and rule their skeletons are of',
      sql: lookalikeKeysSql(q.restauth),
      run: async (client) => {
        await repairNameSkeletons(client, `${q.restauth}.accounts`);
      },
    },
    {
      version: 52,
      name: "a session opened beside a factor's verification: both lock the user's row, so one sees the other",
      sql: sessionOpeners(52) + factorVerifiedLocksUserSql(q, sessionTables(q)),
    },
    {
      version: 55,
      name: "auth.jwt() names pg_catalog's functions: none another role put on its caller's search path runs in it",
      sql: jwtFunctionSql(q, 'pg_catalog.'),
    },
    {
      version: 56,
      name: "a soft-deleted user (deleted_at set) is signed out everywhere, as GoTrue's soft delete does",
      sql: softDeleteEndsSessionsSql(q, sessionTables(q), oneTimeTokenTables(q)) + sessionOpeners(56),
    },
    {
      version: 57,
      name: "restauth's tables give PUBLIC and PostgREST's roles nothing; the anonymous role reads its own role's account only",
      sql: restauthPrivilegesSql(q),
    },
    {
      version: 58,
      name: 'the pre-request refuses a soft-deleted user or one of another instance, whatever the triggers did, in one message for every refusal',
      sql: preRequestStanding(q),
    },
    {
      version: 59,
      name: 'open_sign_in and open_session open no session for a user of another GoTrue instance',
      sql: sessionOpeners(59),
    },
    {
      // Migrations 36-59 named the users table by `store.table` (postgrest-auth's db.table), which is
      // `accounts` in restauth's schema since 14: with any name but `users` every sign-in failed (503).
      version: 60,
      name: "open_sign_in, open_session and the factor trigger name GoTrue's users table, whatever store.table is",
      sql: sessionOpeners(59) + endSessionsBelowAal2Sql(q, sessionTables(q)),
    },
    {
      version: 62,
      name: "the pre-request's general check does the same work whatever the account a token names",
      sql: preRequestSameWork(q),
    },
    {
      version: 63,
      name: "the pre-request's fast path reads the claims it compares from the JSON text, compared with the session's row in one record",
      sql: preRequestClaimsRecord(q),
    },
    {
      version: 64,
      name: "a password written outside restauth (GoTrue, an administrator's SQL) ends the guess limit's known clients",
      sql: passwordWrittenEndsKnownClientsSql(q),
    },
    {
      version: 65,
      name: 'a refresh whose answer was lost after its commit is recorded in the database, so a retry on any instance gets its successor',
      sql: unansweredRefreshesSql(sessionTables(q)),
    },
  ];
}

/**
 * Migration 14: the users move into GoTrue's `auth.users` (uuid `id`, `raw_user_meta_data`, ... as
 * supabase/auth's migrations leave it; docs/postgres-schema.md), so Supabase SQL runs unchanged:
 * `references auth.users(id)`, triggers reading `new.raw_user_meta_data`. The table migrations 1-12
 * made (postgrest-auth's, extended) moves to restauth's schema as `accounts` and keeps what GoTrue has
 * no column for: the user name and its login key, the token count, and the integer `id`, so the
 * foreign keys users' own tables hold on it keep working (PostgreSQL keeps them by the table's identity
 * through the move), and so do the sessions, one-time tokens and roles that reference it. Each account
 * names its user by `uid` (migration 6), which becomes `auth.users.id`: tokens' `sub` stays valid.
 */
function gotrueUsers(q: ReturnType<typeof quotedNames>, users: string): string {
  const accounts = `${q.restauth}.accounts`;
  const gotrue = `${q.schema}.users`;
  // GoTrue's legacy token columns hold '' when unset (its Go models read them as strings).
  return `
    CREATE SCHEMA IF NOT EXISTS ${q.restauth};
    -- postgrest-auth's grant to the anonymous role on its table goes with the table.
    GRANT USAGE ON SCHEMA ${q.restauth} TO ${q.anon}, ${q.authenticated};
    ALTER TABLE ${users} SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.restauth}.${q.table} RENAME TO accounts;

    CREATE TABLE ${gotrue} (
      instance_id uuid,
      id uuid NOT NULL UNIQUE,
      aud varchar(255),
      role varchar(255),
      email varchar(255),
      encrypted_password varchar(255),
      email_confirmed_at timestamptz,
      invited_at timestamptz,
      confirmation_token varchar(255),
      confirmation_sent_at timestamptz,
      recovery_token varchar(255),
      recovery_sent_at timestamptz,
      email_change_token_new varchar(255),
      email_change varchar(255),
      email_change_sent_at timestamptz,
      last_sign_in_at timestamptz,
      raw_app_meta_data jsonb,
      raw_user_meta_data jsonb,
      is_super_admin boolean,
      created_at timestamptz,
      updated_at timestamptz,
      phone text UNIQUE DEFAULT NULL,
      phone_confirmed_at timestamptz,
      phone_change text DEFAULT '',
      phone_change_token varchar(255) DEFAULT '',
      phone_change_sent_at timestamptz,
      confirmed_at timestamptz GENERATED ALWAYS AS (least(email_confirmed_at, phone_confirmed_at)) STORED,
      email_change_token_current varchar(255) DEFAULT '',
      email_change_confirm_status smallint DEFAULT 0
        CHECK (email_change_confirm_status >= 0 AND email_change_confirm_status <= 2),
      banned_until timestamptz,
      reauthentication_token varchar(255) DEFAULT '',
      reauthentication_sent_at timestamptz,
      is_sso_user boolean NOT NULL DEFAULT false,
      deleted_at timestamptz,
      is_anonymous boolean NOT NULL DEFAULT false,
      CONSTRAINT users_pkey PRIMARY KEY (id)
    );
    COMMENT ON TABLE ${gotrue} IS 'Auth: Stores user login data within a secure schema.';
    COMMENT ON COLUMN ${gotrue}.is_sso_user IS
      'Auth: Set this column to true when the account comes from SSO. These accounts can have duplicate emails.';
    CREATE INDEX users_instance_id_idx ON ${gotrue} (instance_id);
    CREATE INDEX users_instance_id_email_idx ON ${gotrue} (instance_id, lower(email));
    CREATE UNIQUE INDEX users_email_partial_key ON ${gotrue} (email) WHERE is_sso_user = false;
    CREATE UNIQUE INDEX confirmation_token_idx ON ${gotrue} (confirmation_token)
      WHERE confirmation_token !~ '^[0-9 ]*$';
    CREATE UNIQUE INDEX recovery_token_idx ON ${gotrue} (recovery_token) WHERE recovery_token !~ '^[0-9 ]*$';
    CREATE UNIQUE INDEX email_change_token_current_idx ON ${gotrue} (email_change_token_current)
      WHERE email_change_token_current !~ '^[0-9 ]*$';
    CREATE UNIQUE INDEX email_change_token_new_idx ON ${gotrue} (email_change_token_new)
      WHERE email_change_token_new !~ '^[0-9 ]*$';
    CREATE UNIQUE INDEX reauthentication_token_idx ON ${gotrue} (reauthentication_token)
      WHERE reauthentication_token !~ '^[0-9 ]*$';
    CREATE INDEX users_is_anonymous_idx ON ${gotrue} (is_anonymous);
    ALTER TABLE ${gotrue} ENABLE ROW LEVEL SECURITY;

    -- role: GoTrue's is the token's role claim; restauth's "no role of its own" is the authenticated role.
    INSERT INTO ${gotrue} (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
        raw_app_meta_data, raw_user_meta_data, created_at, updated_at, last_sign_in_at, banned_until,
        confirmation_token, recovery_token, email_change_token_new, email_change)
      SELECT '00000000-0000-0000-0000-000000000000', a.uid, 'authenticated',
        coalesce(a.role, ${q.authenticatedLiteral}), a.email, a.password, a.email_confirmed_at, a.app_metadata,
        a.profile, a.created_at, a.updated_at, a.last_sign_in_at, a.banned_until, '', '', '', ''
      FROM ${accounts} a;

    ALTER TABLE ${accounts}
      DROP COLUMN email, DROP COLUMN password, DROP COLUMN email_confirmed_at, DROP COLUMN role,
      DROP COLUMN profile, DROP COLUMN app_metadata, DROP COLUMN created_at, DROP COLUMN updated_at,
      DROP COLUMN last_sign_in_at, DROP COLUMN banned_until,
      ADD CONSTRAINT accounts_uid_fkey FOREIGN KEY (uid) REFERENCES ${gotrue}(id) ON DELETE CASCADE;
    COMMENT ON TABLE ${accounts} IS
      'restauth: per user (uid = auth.users.id) its user name, login key, token count, and the integer id postgrest-auth gave it, which sessions, one-time tokens, roles and applications'' foreign keys reference';

    -- The pre-request of migration 10, reading the user from GoTrue's table and its account.
    ${checkTokenGeneral(q, `${q.schema}.user_roles`)}

    -- The fast path of migration 10, the same one lookup with the account joined.
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, ${q.schema}.jwt());
      user_sub text := claims ->> 'sub';
      session_text text := claims ->> 'session_id';
      checked record;
    BEGIN
      -- Anonymous requests (no sub) and other token shapes: the general check (IS NULL first: NULL !~ x is NULL).
      IF user_sub IS NULL OR session_text IS NULL OR user_sub !~ ${UUID_PATTERN} OR session_text !~ ${UUID_PATTERN} THEN
        PERFORM ${q.schema}.check_token_general();
        RETURN;
      END IF;
      SELECT a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until,
          s.user_id = a.id AS own_session, s.revoked_at, s.not_after
        INTO checked
        FROM ${gotrue} u JOIN ${accounts} a ON a.uid = u.id LEFT JOIN ${q.schema}.sessions s ON s.id = session_text::uuid
        WHERE u.id = user_sub::uuid;
      IF NOT FOUND THEN
        RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
      END IF;
      IF (claims ->> 'role' IN (coalesce(checked.role, ${q.authenticatedLiteral}), ${q.authenticatedLiteral})) IS NOT TRUE THEN
        RAISE invalid_password USING MESSAGE = 'token refused: its role is not its user''s';
      END IF;
      IF checked.banned_until > now() THEN
        RAISE invalid_password USING MESSAGE = 'token refused: the user is banned';
      END IF;
      IF coalesce(claims ->> 'token_version', claims ->> 'count') IS DISTINCT FROM checked.token_count::text THEN
        RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
      END IF;
      IF checked.own_session IS NOT TRUE OR checked.revoked_at IS NOT NULL OR checked.not_after <= now() THEN
        RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
      END IF;
    END
    $fn$;
  `;
}

/**
 * Migration 16: the tables GoTrue has no table for leave the configured schema (GoTrue's `auth`) for
 * restauth's (docs/postgres-schema.md): the mail outbox, the rate-limit windows, role ownership, the
 * audit log, and the bookkeeping table of a database migrated before this one (newer databases create it
 * there: bookkeeping.ts). SET SCHEMA keeps each table's rows, indexes, constraints, foreign keys, the
 * audit log's identity sequence and its grants: none to PostgREST's roles, which never read them (the
 * pre-request reads role ownership as its owner). The pre-request's SQL names the table, so it follows.
 */
function restauthOwnTables(q: ReturnType<typeof quotedNames>): string {
  const legacyBookkeeping = pg.escapeLiteral(`${q.schema}.restauth_migrations`);
  const ownBookkeeping = pg.escapeLiteral(`${q.restauth}.restauth_migrations`);
  return `
    CREATE SCHEMA IF NOT EXISTS ${q.restauth};
    DO $$ BEGIN
      -- Both exist only when an older restauth left a stray empty one behind: the one in use stays.
      IF to_regclass(${legacyBookkeeping}) IS NOT NULL AND to_regclass(${ownBookkeeping}) IS NULL THEN
        ALTER TABLE ${q.schema}.restauth_migrations SET SCHEMA ${q.restauth};
      END IF;
    END $$;
    ALTER TABLE ${q.schema}.mail_outbox SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.schema}.rate_limits SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.schema}.user_roles SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.schema}.audit_log SET SCHEMA ${q.restauth};
    ${checkTokenGeneral(q, `${q.restauth}.user_roles`)}
  `;
}

/**
 * The general pre-request check (migration 10's fallback) on GoTrue's `users` and restauth's `accounts`
 * (migration 14), reading role ownership from `userRoles` (quoted): migration 14 wrote it with the table
 * in the configured schema, migration 16 with the table in restauth's.
 */
function checkTokenGeneral(q: ReturnType<typeof quotedNames>, userRoles: string): string {
  const accounts = `${q.restauth}.accounts`;
  const gotrue = `${q.schema}.users`;
  return `
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_general() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      claims jsonb := ${q.schema}.jwt();
      claimed_version text := coalesce(claims ->> 'token_version', claims ->> 'count');
      claimed_role text := claims ->> 'role';
      session_text text := claims ->> 'session_id';
      user_sub text := claims ->> 'sub';
      checked record;
      session_row record;
    BEGIN
      IF claims = '{}'::jsonb OR (user_sub IS NULL AND claimed_version IS NULL) THEN
        RETURN; -- anonymous request
      END IF;
      IF user_sub IS NULL THEN
        -- postgrest-auth tokens name the user by its role.
        SELECT a.id, a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until INTO checked
          FROM ${userRoles} r JOIN ${accounts} a ON a.id = r.user_id JOIN ${gotrue} u ON u.id = a.uid
          WHERE r.role = claimed_role AND r.adopted;
      ELSIF user_sub ~ ${UUID_PATTERN} THEN
        SELECT a.id, a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until INTO checked
          FROM ${gotrue} u JOIN ${accounts} a ON a.uid = u.id WHERE u.id = user_sub::uuid;
      ELSIF user_sub ~ '^[0-9]{1,9}$' THEN
        SELECT a.id, a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until INTO checked
          FROM ${gotrue} u JOIN ${accounts} a ON a.uid = u.id WHERE a.id = user_sub::integer;
      ELSE
        RAISE invalid_password USING MESSAGE = 'token refused: malformed subject';
      END IF;
      IF NOT FOUND THEN
        RAISE invalid_password USING MESSAGE = 'token refused: the user no longer exists';
      END IF;
      IF (claimed_role IN (coalesce(checked.role, ${q.authenticatedLiteral}), ${q.authenticatedLiteral})) IS NOT TRUE THEN
        RAISE invalid_password USING MESSAGE = 'token refused: its role is not its user''s';
      END IF;
      IF checked.banned_until > now() THEN
        RAISE invalid_password USING MESSAGE = 'token refused: the user is banned';
      END IF;
      IF claimed_version IS NULL OR claimed_version !~ '^[0-9]{1,9}$' OR claimed_version::integer <> checked.token_count THEN
        RAISE invalid_password USING MESSAGE = 'token refused: issued before a password change, sign in again';
      END IF;
      IF user_sub IS NOT NULL THEN
        IF session_text IS NULL OR session_text !~ ${UUID_PATTERN} THEN
          RAISE invalid_password USING MESSAGE = 'token refused: it names no session';
        END IF;
        SELECT s.revoked_at, s.not_after, s.user_id INTO session_row
          FROM ${q.schema}.sessions s WHERE s.id = session_text::uuid;
        IF NOT FOUND OR session_row.user_id <> checked.id OR session_row.revoked_at IS NOT NULL
           OR session_row.not_after <= now() THEN
          RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
        END IF;
      END IF;
    END
    $fn$;
  `;
}

/**
 * Migration 15: GoTrue's `auth.identities` (docs/postgres-schema.md), with the `email` identity GoTrue
 * keeps for every user with an address (its backfills `20221125140132` and `20230131181311` gave one
 * to every earlier user): `provider_id` the user's id, `identity_data` its `sub`, `email` and
 * whether they are verified; `email` a generated column. The store keeps it in step (emailIdentity).
 */
function gotrueIdentities(q: ReturnType<typeof quotedNames>): string {
  const identities = `${q.schema}.identities`;
  return `
    CREATE TABLE ${identities} (
      provider_id text NOT NULL,
      user_id uuid NOT NULL,
      identity_data jsonb NOT NULL,
      provider text NOT NULL,
      last_sign_in_at timestamptz,
      created_at timestamptz,
      updated_at timestamptz,
      email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      CONSTRAINT identities_pkey PRIMARY KEY (id),
      CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider),
      CONSTRAINT identities_user_id_fkey FOREIGN KEY (user_id) REFERENCES ${q.schema}.users(id) ON DELETE CASCADE
    );
    COMMENT ON TABLE ${identities} IS 'Auth: Stores identities associated to a user.';
    COMMENT ON COLUMN ${identities}.email IS
      'Auth: Email is a generated column that references the optional email property in the identity_data';
    CREATE INDEX identities_user_id_idx ON ${identities} (user_id);
    CREATE INDEX identities_email_idx ON ${identities} (email text_pattern_ops);
    COMMENT ON INDEX ${q.schema}.identities_email_idx IS 'Auth: Ensures indexed queries on the email column';
    ALTER TABLE ${identities} ENABLE ROW LEVEL SECURITY;
    INSERT INTO ${identities} (provider_id, user_id, identity_data, provider, created_at, updated_at)
      SELECT u.id::text, u.id, ${emailIdentityData('u')}, 'email', u.created_at, u.updated_at
      FROM ${q.schema}.users u WHERE u.email IS NOT NULL;
  `;
}

/** GoTrue's identity_data of the `email` identity of the user row `row`. */
export function emailIdentityData(row: string): string {
  return `jsonb_build_object('sub', ${row}.id::text, 'email', ${row}.email,
    'email_verified', ${row}.email_confirmed_at IS NOT NULL, 'phone_verified', false)`;
}
