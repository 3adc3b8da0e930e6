import { UUID_PATTERN, type quotedNames } from './migrations.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 17: sessions and refresh tokens in GoTrue's `auth.sessions` and `auth.refresh_tokens`
 * (docs/postgres-schema.md: every column, constraint and index of supabase/auth's newest migration),
 * restauth's part of them in its own schema, keyed by GoTrue's ids with ON DELETE CASCADE. A refresh
 * token's `token` is restauth's SHA-256 hash of it (43 base64url characters; GoTrue's own v1 tokens
 * are 12 raw ones: the two never collide), `revoked` once rotated, `parent` its predecessor's hash.
 * Existing rows are converted: live sessions keep their ids, secrets and tokens, so their users stay
 * signed in and their refresh tokens keep working; ended ones go to `session_ends`. The pre-request
 * follows: a session ends by leaving `auth.sessions`, as GoTrue ends one.
 */
export function gotrueSessions(q: Names): string {
  const t = sessionTables(q);
  const oldSessions = `${q.restauth}.sessions_before_17`;
  const oldTokens = `${q.restauth}.refresh_tokens_before_17`;
  const accounts = `${q.restauth}.accounts`;
  const users = `${q.schema}.users`;
  return `
    -- restauth's tables step aside (their index names go with them), to be converted and dropped.
    ALTER TABLE ${q.schema}.refresh_tokens SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.restauth}.refresh_tokens RENAME TO refresh_tokens_before_17;
    ALTER TABLE ${q.schema}.sessions SET SCHEMA ${q.restauth};
    ALTER TABLE ${q.restauth}.sessions RENAME TO sessions_before_17;

    -- GoTrue's MFA migration creates it; a database may have it already (another of GoTrue's tables).
    DO $$ BEGIN
      CREATE TYPE ${q.schema}.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
    EXCEPTION WHEN duplicate_object THEN NULL;
    END $$;

    -- GoTrue's, except the foreign key of oauth_client_id: restauth has no auth.oauth_clients.
    CREATE TABLE ${t.sessions} (
      id uuid NOT NULL,
      user_id uuid NOT NULL,
      created_at timestamptz,
      updated_at timestamptz,
      factor_id uuid,
      aal ${q.schema}.aal_level,
      not_after timestamptz,
      refreshed_at timestamp without time zone,
      user_agent text,
      ip inet,
      tag text,
      oauth_client_id uuid,
      scopes text,
      refresh_token_hmac_key text,
      refresh_token_counter bigint,
      CONSTRAINT sessions_pkey PRIMARY KEY (id),
      CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES ${users}(id) ON DELETE CASCADE,
      CONSTRAINT sessions_scopes_length CHECK (char_length(scopes) <= 4096)
    );
    COMMENT ON TABLE ${t.sessions} IS 'Auth: Stores session data associated to a user.';
    COMMENT ON COLUMN ${t.sessions}.not_after IS
      'Auth: Not after is a nullable column that contains a timestamp after which the session should be regarded as expired.';
    COMMENT ON COLUMN ${t.sessions}.refresh_token_hmac_key IS
      'Holds a HMAC-SHA256 key used to sign refresh tokens for this session.';
    COMMENT ON COLUMN ${t.sessions}.refresh_token_counter IS 'Holds the ID (counter) of the last issued refresh token.';
    CREATE INDEX sessions_user_id_idx ON ${t.sessions} (user_id);
    CREATE INDEX user_id_created_at_idx ON ${t.sessions} (user_id, created_at);
    CREATE INDEX sessions_not_after_idx ON ${t.sessions} (not_after DESC);
    CREATE INDEX sessions_oauth_client_id_idx ON ${t.sessions} (oauth_client_id);
    ALTER TABLE ${t.sessions} ENABLE ROW LEVEL SECURITY;

    CREATE TABLE ${t.refreshTokens} (
      instance_id uuid,
      id bigserial NOT NULL,
      token varchar(255),
      user_id varchar(255),
      revoked boolean,
      created_at timestamptz,
      updated_at timestamptz,
      parent varchar(255),
      session_id uuid,
      CONSTRAINT refresh_tokens_pkey PRIMARY KEY (id),
      CONSTRAINT refresh_tokens_token_unique UNIQUE (token),
      CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES ${t.sessions}(id)
        ON DELETE CASCADE
    );
    COMMENT ON TABLE ${t.refreshTokens} IS 'Auth: Store of tokens used to refresh JWT tokens once they expire.';
    CREATE INDEX refresh_tokens_instance_id_idx ON ${t.refreshTokens} (instance_id);
    CREATE INDEX refresh_tokens_instance_id_user_id_idx ON ${t.refreshTokens} (instance_id, user_id);
    CREATE INDEX refresh_tokens_parent_idx ON ${t.refreshTokens} (parent);
    CREATE INDEX refresh_tokens_session_id_revoked_idx ON ${t.refreshTokens} (session_id, revoked);
    CREATE INDEX refresh_tokens_updated_at_idx ON ${t.refreshTokens} (updated_at DESC);
    ALTER TABLE ${t.refreshTokens} ENABLE ROW LEVEL SECURITY;

    -- The key a live session's successor tokens are derived from (core/sessions.ts); it goes with it.
    CREATE TABLE ${t.secrets} (
      session_id uuid PRIMARY KEY REFERENCES ${t.sessions}(id) ON DELETE CASCADE,
      refresh_secret text NOT NULL
    );
    COMMENT ON TABLE ${t.secrets} IS
      'restauth: the key each session derives its next refresh token from (HMAC of the presented one)';
    -- An ended session (GoTrue's would be deleted; so is this one from auth.sessions): when and why, kept
    -- for the answer to a refresh of one of its tokens until the retention (sessions.endedRetention) ends.
    CREATE TABLE ${t.ends} (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES ${users}(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL,
      refreshed_at timestamptz NOT NULL,
      not_after timestamptz NOT NULL,
      ended_at timestamptz NOT NULL,
      reason text NOT NULL
    );
    CREATE INDEX session_ends_user_id ON ${t.ends} (user_id);
    CREATE INDEX session_ends_ended_at ON ${t.ends} (ended_at);
    COMMENT ON TABLE ${t.ends} IS
      'restauth: sessions that ended (deleted from auth.sessions) and why, until pruned';
    CREATE TABLE ${t.endTokens} (
      token text PRIMARY KEY,
      session_id uuid NOT NULL REFERENCES ${t.ends}(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL,
      rotated_at timestamptz
    );
    CREATE INDEX session_end_tokens_session_id ON ${t.endTokens} (session_id);
    COMMENT ON TABLE ${t.endTokens} IS 'restauth: the refresh-token hashes of an ended session, until pruned';

    -- The conversion. refreshed_at is GoTrue's timestamp without time zone, in UTC.
    INSERT INTO ${t.sessions} (id, user_id, created_at, updated_at, aal, not_after, refreshed_at)
      SELECT o.id, a.uid, o.created_at, o.refreshed_at, 'aal1', o.not_after, o.refreshed_at AT TIME ZONE 'UTC'
      FROM ${oldSessions} o JOIN ${accounts} a ON a.id = o.user_id WHERE o.revoked_at IS NULL;
    INSERT INTO ${t.secrets} (session_id, refresh_secret)
      SELECT o.id, o.refresh_secret FROM ${oldSessions} o WHERE o.revoked_at IS NULL;
    -- In creation order, so GoTrue's serial ids follow it. restauth kept no predecessor: parent stays NULL.
    INSERT INTO ${t.refreshTokens} (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
      SELECT '00000000-0000-0000-0000-000000000000', o.hash, a.uid::text, o.rotated_at IS NOT NULL, o.created_at,
        coalesce(o.rotated_at, o.created_at), o.session_id
      FROM ${oldTokens} o JOIN ${oldSessions} s ON s.id = o.session_id JOIN ${accounts} a ON a.id = s.user_id
      WHERE s.revoked_at IS NULL ORDER BY o.created_at, o.hash;
    INSERT INTO ${t.ends} (id, user_id, created_at, refreshed_at, not_after, ended_at, reason)
      SELECT o.id, a.uid, o.created_at, o.refreshed_at, o.not_after, o.revoked_at, coalesce(o.revoked_reason, 'revoked')
      FROM ${oldSessions} o JOIN ${accounts} a ON a.id = o.user_id WHERE o.revoked_at IS NOT NULL;
    INSERT INTO ${t.endTokens} (token, session_id, created_at, rotated_at)
      SELECT o.hash, o.session_id, o.created_at, o.rotated_at
      FROM ${oldTokens} o JOIN ${oldSessions} s ON s.id = o.session_id WHERE s.revoked_at IS NOT NULL;
    DROP TABLE ${oldTokens};
    DROP TABLE ${oldSessions};

    ${preRequest(q, t.sessions)}
  `;
}

/**
 * check_token_general as migration 17 made it, and as migration 39 makes it `withAudience`
 * (pre-request-legacy-audience.ts): a token whose aud is not its user's is refused, and the search
 * path migration 29 set on it is set again (CREATE OR REPLACE drops it).
 */
export function checkTokenGeneral(
  q: Names,
  sessions: string,
  withAudience = false,
  standing?: { refusal: string; userStands: (row: string) => string },
): string {
  // Migration 58 (pre-request-standing.ts): one message for every refusal, and a soft-deleted user or
  // one of another instance refused as one that no longer exists.
  const refuse = (reason: string) => (standing ? standing.refusal : reason);
  const stands = standing ? `, ${standing.userStands('u')} AS stands` : '';
  const gone = standing ? ' OR NOT checked.stands' : '';
  // A role-only token (postgrest-auth's) is checked only under the role it names, as postgrest-auth's
  // check read the row of current_user: otherwise a login that sets the claims itself told each
  // role's token count by which guess passed.
  const underItsRole = standing ? ` AND claimed_role = pg_catalog.current_setting('role', true)` : '';
  const accounts = `${q.restauth}.accounts`;
  const users = `${q.schema}.users`;
  const [pinned, aud, audienceCheck] = withAudience
    ? [
        ' SET search_path = pg_catalog, pg_temp',
        ', u.aud',
        // No aud claim, or a user with none: NULL, not true, so it passes as restauth's own check does.
        `
      IF claims ->> 'aud' <> checked.aud THEN
        RAISE invalid_password USING MESSAGE = '${refuse("token refused: its audience is not its user''s")}';
      END IF;`,
      ]
    : ['', '', ''];
  return `
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_general() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER${pinned} AS $fn$
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
        SELECT u.id, a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until${aud}${stands} INTO checked
          FROM ${q.restauth}.user_roles r JOIN ${accounts} a ON a.id = r.user_id JOIN ${users} u ON u.id = a.uid
          WHERE r.role = claimed_role AND r.adopted${underItsRole};
      ELSIF user_sub ~ ${UUID_PATTERN} THEN
        SELECT u.id, a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until${aud}${stands} INTO checked
          FROM ${users} u JOIN ${accounts} a ON a.uid = u.id WHERE u.id = user_sub::uuid;
      ELSIF user_sub ~ '^[0-9]{1,9}$' THEN
        SELECT u.id, a.token_count, nullif(u.role, ${q.authenticatedLiteral}) AS role, u.banned_until${aud}${stands} INTO checked
          FROM ${users} u JOIN ${accounts} a ON a.uid = u.id WHERE a.id = user_sub::integer;
      ELSE
        RAISE invalid_password USING MESSAGE = '${refuse('token refused: malformed subject')}';
      END IF;
      IF NOT FOUND${gone} THEN
        RAISE invalid_password USING MESSAGE = '${refuse('token refused: the user no longer exists')}';
      END IF;${audienceCheck}
      IF (claimed_role IN (coalesce(checked.role, ${q.authenticatedLiteral}), ${q.authenticatedLiteral})) IS NOT TRUE THEN
        RAISE invalid_password USING MESSAGE = '${refuse("token refused: its role is not its user''s")}';
      END IF;
      IF checked.banned_until > now() THEN
        RAISE invalid_password USING MESSAGE = '${refuse('token refused: the user is banned')}';
      END IF;
      IF claimed_version IS NULL OR claimed_version !~ '^[0-9]{1,9}$' OR claimed_version::integer <> checked.token_count THEN
        RAISE invalid_password USING MESSAGE = '${refuse('token refused: issued before a password change, sign in again')}';
      END IF;
      IF user_sub IS NOT NULL THEN
        IF session_text IS NULL OR session_text !~ ${UUID_PATTERN} THEN
          RAISE invalid_password USING MESSAGE = '${refuse('token refused: it names no session')}';
        END IF;
        SELECT s.not_after, s.user_id INTO session_row FROM ${sessions} s WHERE s.id = session_text::uuid;
        IF NOT FOUND OR session_row.user_id <> checked.id OR session_row.not_after <= now() THEN
          RAISE invalid_password USING MESSAGE = '${refuse('token refused: the session has ended (signed out or revoked)')}';
        END IF;
      END IF;
    END
    $fn$;`;
}

/**
 * The pre-request of migration 16 with the session read from GoTrue's table: a session that exists is
 * live until its not_after (NULL: GoTrue's sessions without a time box), and an ended one no longer
 * exists. The session row names its user by uuid, compared with the user's directly.
 */
function preRequest(q: Names, sessions: string): string {
  const accounts = `${q.restauth}.accounts`;
  const users = `${q.schema}.users`;
  return `${checkTokenGeneral(q, sessions)}

    -- The fast path: the user, its account and its session in one indexed lookup.
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
          s.user_id = u.id AS own_session, s.not_after
        INTO checked
        FROM ${users} u JOIN ${accounts} a ON a.uid = u.id LEFT JOIN ${sessions} s ON s.id = session_text::uuid
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
      -- No row: signed out, revoked or pruned (ended sessions leave auth.sessions); NULL not_after: no time box.
      IF checked.own_session IS NOT TRUE OR checked.not_after <= now() THEN
        RAISE invalid_password USING MESSAGE = 'token refused: the session has ended (signed out or revoked)';
      END IF;
    END
    $fn$;
  `;
}
