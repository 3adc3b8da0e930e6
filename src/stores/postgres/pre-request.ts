import { UUID_PATTERN, type quotedNames } from './migrations.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 24: the pre-request's fast path (`check_token_count`, run by PostgREST in every request's
 * transaction) as one query and one test. The checks are those of migration 17, in the same order with
 * the same messages: the user exists, the token's role is its user's, the user is not banned, the token
 * version is the account's, the session exists, is the user's and is before its not_after. What costs
 * in a PL/pgSQL function called once per transaction is its statements, not its index scans: each
 * expression is set up again in every new transaction and each query is an executor run, so the claims
 * are read, the three rows looked up and the verdict reached in one query (the claims parsed once, in a
 * subquery kept apart by OFFSET 0), and one IF acts on it: NULL lets the request through, '' hands
 * another token shape (anonymous, postgrest-auth's, legacy claim settings) to check_token_general.
 */
export function preRequestInOneQuery(q: Names): string {
  return `
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      refusal text;
    BEGIN
      ${preRequestQuery(q, 'INTO refusal')};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = refusal;
      END IF;
    END
    $fn$;
  `;
}

/**
 * The query of the fast path: its verdict on the claims of the transaction, `into` the variable named
 * (empty: as a plain query, to EXPLAIN it).
 */
export function preRequestQuery(
  q: Names,
  into = '',
  audience = false,
  // Migration 58 (pre-request-standing.ts): which users still stand, of the users' row `u`.
  userStands?: (row: string) => string,
): string {
  const t = sessionTables(q);
  const role = q.authenticatedLiteral;
  const gone = userStands ? ` OR NOT ${userStands('u')}` : '';
  // Migration 35 (pre-request-audience.ts): a token says its user's audience, or none.
  const audienceCheck = audience
    ? `
          WHEN c.aud IS DISTINCT FROM u.aud AND c.aud IS NOT NULL AND u.aud IS NOT NULL
            THEN 'token refused: its audience is not its user''s'`
    : '';
  const audienceClaim = audience ? `, claims ->> 'aud' AS aud` : '';
  return `SELECT CASE
          WHEN c.user_id IS NULL OR c.session_id IS NULL THEN ''
          WHEN u.id IS NULL${gone} THEN 'token refused: the user no longer exists'${audienceCheck}
          WHEN (c.role IN (coalesce(nullif(u.role, ${role}), ${role}), ${role})) IS NOT TRUE
            THEN 'token refused: its role is not its user''s'
          WHEN u.banned_until > now() THEN 'token refused: the user is banned'
          WHEN c.version IS DISTINCT FROM a.token_count::text
            THEN 'token refused: issued before a password change, sign in again'
          -- No row: signed out, revoked or pruned (ended sessions leave auth.sessions); NULL not_after: no time box.
          WHEN s.user_id IS DISTINCT FROM u.id OR s.not_after <= now()
            THEN 'token refused: the session has ended (signed out or revoked)'
        END ${into}
      FROM (
        -- A sub or session_id that is no uuid is NULL here (cast only after the pattern matched).
        SELECT CASE WHEN claims ->> 'sub' ~ ${UUID_PATTERN} THEN (claims ->> 'sub')::uuid END AS user_id,
          CASE WHEN claims ->> 'session_id' ~ ${UUID_PATTERN} THEN (claims ->> 'session_id')::uuid END AS session_id,
          claims ->> 'role' AS role, coalesce(claims ->> 'token_version', claims ->> 'count') AS version${audienceClaim}
        FROM (SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb AS claims OFFSET 0) parsed
        OFFSET 0
      ) c
      LEFT JOIN ${q.schema}.users u ON u.id = c.user_id
      LEFT JOIN ${q.restauth}.accounts a ON a.uid = u.id
      LEFT JOIN ${t.sessions} s ON s.id = c.session_id`;
}

/**
 * Migration 26: the pre-request's fast path reads one narrow row. Measured (server CPU per transaction
 * in a loop of transactions, docs/postgrest.md): of migration 24's cost, the two lookups beyond the
 * session's were a third, the uuid patterns, the CASE and the subqueries another; a plain index scan
 * of one row and a JSON parse are what is left. So each session has a row in
 * `restauth.session_checks` holding what the check compares (its user, the user's role and ban, the
 * account's token count, the session's not_after), keyed by the session id as text (the claim is
 * compared as it is: no pattern, no cast), and kept true by triggers on the tables those come from,
 * in the transactions that change them, whoever writes them (restauth, GoTrue, SQL). The fast path
 * only ever lets a request through: any token its row does not vouch for (no row, another user, a
 * ban, ...) goes to migration 24's query on the tables themselves, which decides with the same
 * messages as before. A stale row can therefore only be a wrong pass, which the triggers' locks
 * prevent: a session's row is written with its user's and account's rows locked FOR SHARE, so a ban,
 * role or count change racing the sign-in waits for it and then updates the new row too (or the
 * sign-in waits and reads the change).
 */
export function preRequestOnOneRow(q: Names): string {
  const t = sessionTables(q);
  const checks = `${q.restauth}.session_checks`;
  const definer = 'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog';
  return `
    CREATE TABLE ${checks} (
      session_id text COLLATE "C" PRIMARY KEY,
      user_id uuid NOT NULL,
      role text,
      banned_until timestamptz,
      token_count integer,
      not_after timestamptz
    );
    CREATE INDEX session_checks_user_id_idx ON ${checks} (user_id);
    COMMENT ON TABLE ${checks} IS
      'restauth: per session (id as text) what the pre-request check_token_count compares, copied by triggers from auth.sessions, auth.users (role, banned_until) and restauth.accounts (token_count)';

    -- SECURITY DEFINER: GoTrue's role writes sessions and users without any right on restauth's schema.
    ${sessionChecksOfSessionAndUser(q, 'CREATE', definer)}
    CREATE FUNCTION ${q.restauth}.session_checks_of_account() RETURNS trigger ${definer} AS $fn$
    BEGIN
      -- A deleted account, or one moved to another user: its user's sessions have no count any more.
      IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.uid IS DISTINCT FROM NEW.uid) THEN
        UPDATE ${checks} SET token_count = NULL WHERE user_id = OLD.uid;
      END IF;
      IF TG_OP <> 'DELETE' THEN
        UPDATE ${checks} SET token_count = NEW.token_count WHERE user_id = NEW.uid;
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE FUNCTION ${q.restauth}.session_checks_emptied() RETURNS trigger ${definer} AS $fn$
    BEGIN
      TRUNCATE ${checks};
      RETURN NULL;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION ${q.restauth}.session_checks_of_session(), ${q.restauth}.session_checks_of_user(),
      ${q.restauth}.session_checks_of_account(), ${q.restauth}.session_checks_emptied() FROM PUBLIC;

    -- Updates that change nothing the check reads (a refresh's refreshed_at, a sign-in's
    -- last_sign_in_at, GoTrue's ORM writing every column) fire nothing.
    CREATE TRIGGER restauth_session_checks_insert AFTER INSERT ON ${t.sessions}
      FOR EACH ROW EXECUTE FUNCTION ${q.restauth}.session_checks_of_session();
    CREATE TRIGGER restauth_session_checks_update AFTER UPDATE OF id, user_id, not_after ON ${t.sessions}
      FOR EACH ROW WHEN ((OLD.id, OLD.user_id, OLD.not_after) IS DISTINCT FROM (NEW.id, NEW.user_id, NEW.not_after))
      EXECUTE FUNCTION ${q.restauth}.session_checks_of_session();
    CREATE TRIGGER restauth_session_checks_delete AFTER DELETE ON ${t.sessions}
      FOR EACH ROW EXECUTE FUNCTION ${q.restauth}.session_checks_of_session();
    CREATE TRIGGER restauth_session_checks_truncate AFTER TRUNCATE ON ${t.sessions}
      FOR EACH STATEMENT EXECUTE FUNCTION ${q.restauth}.session_checks_emptied();
    CREATE TRIGGER restauth_session_checks_user AFTER UPDATE OF role, banned_until ON ${q.schema}.users
      FOR EACH ROW WHEN ((OLD.role, OLD.banned_until) IS DISTINCT FROM (NEW.role, NEW.banned_until))
      EXECUTE FUNCTION ${q.restauth}.session_checks_of_user();
    CREATE TRIGGER restauth_session_checks_account_insert_delete AFTER INSERT OR DELETE ON ${q.restauth}.accounts
      FOR EACH ROW EXECUTE FUNCTION ${q.restauth}.session_checks_of_account();
    CREATE TRIGGER restauth_session_checks_account_update AFTER UPDATE OF uid, token_count ON ${q.restauth}.accounts
      FOR EACH ROW WHEN ((OLD.uid, OLD.token_count) IS DISTINCT FROM (NEW.uid, NEW.token_count))
      EXECUTE FUNCTION ${q.restauth}.session_checks_of_account();

    -- After the triggers: creating them locked out writes to the three tables until this migration
    -- commits, so the copy misses none.
    INSERT INTO ${checks} (session_id, user_id, role, banned_until, token_count, not_after)
      SELECT s.id::text, s.user_id, u.role, u.banned_until, a.token_count, s.not_after
      FROM ${t.sessions} s JOIN ${q.schema}.users u ON u.id = s.user_id
        LEFT JOIN ${q.restauth}.accounts a ON a.uid = u.id;

    ${preRequestOnOneRowFunction(q)}
  `;
}

/** Migration 26's check_token_count (kept apart for the bench to run it beside the current one). */
export function preRequestOnOneRowFunction(q: Names): string {
  return `
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      refusal text;
    BEGIN
      IF EXISTS (${preRequestFastQuery(q)}) THEN
        RETURN;
      END IF;
      ${preRequestQuery(q, 'INTO refusal')};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = refusal;
      END IF;
    END
    $fn$;
  `;
}

/**
 * The fast path's query: a row when the session's row vouches for the claims (the session is the
 * sub's, the role is the user's or the authenticated role, no ban, the account's token version,
 * before not_after). The claims are compared as text with the row's canonical uuids: a claim written
 * otherwise (upper case) finds no row and takes the full check.
 */
export function preRequestFastQuery(q: Names): string {
  const role = q.authenticatedLiteral;
  return `SELECT FROM (SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb AS claims OFFSET 0) c
        JOIN ${q.restauth}.session_checks k ON k.session_id = (c.claims ->> 'session_id') COLLATE "C"
        WHERE k.user_id::text = c.claims ->> 'sub'
          AND (c.claims ->> 'role' = ${role} OR c.claims ->> 'role' = k.role)
          AND (k.banned_until IS NULL OR k.banned_until <= now())
          AND k.token_count::text = coalesce(c.claims ->> 'token_version', c.claims ->> 'count')
          AND (k.not_after IS NULL OR k.not_after > now())`;
}

/**
 * Migration 27: the fast path compares a session's row with the claims in three operators (a
 * containment, a range test, a text comparison; a fourth for a user with a role of its own) instead
 * of eight. Measured in the in-server loop (docs/postgrest.md), migration 26's check was the PL/pgSQL
 * call (~2.4 µs), the claims' JSON (~3 µs), the index lookup (~3 µs) and, as much again as the lookup,
 * its comparisons: each `->>`, cast and `now()` test is an expression node set up again in every
 * transaction. So each row also holds what the claims must contain (`vouches`: the sub, the session id
 * and the authenticated role, the last only when the user has no other role), the token version as
 * text (compared with the claim's text, as before: `1.0` is not `1`), and the span during which the
 * row vouches (`during`: from the end of a ban to not_after, empty when a ban outlasts the session),
 * all three derived by a trigger on the row itself, so the triggers of migration 26 that write the
 * row stay as they were. The fast path still only lets a request through; everything else takes
 * migration 24's query, unchanged.
 */
export function preRequestOnVouches(q: Names): string {
  const checks = `${q.restauth}.session_checks`;
  const role = q.authenticatedLiteral;
  return `
    ALTER TABLE ${checks} ADD COLUMN vouches jsonb, ADD COLUMN version text, ADD COLUMN other_role text,
      ADD COLUMN during tstzrange;
    COMMENT ON COLUMN ${checks}.vouches IS
      'restauth: what the claims must contain for the pre-request''s fast path (sub, session_id, and role when the user has no role of its own), derived from the row by a trigger';

    -- Not SECURITY DEFINER: it only reads the row it is given.
    CREATE FUNCTION ${q.restauth}.session_checks_derived() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
    BEGIN
      NEW.other_role := nullif(NEW.role, ${role});
      NEW.vouches := jsonb_build_object('sub', NEW.user_id::text, 'session_id', NEW.session_id)
        || CASE WHEN NEW.other_role IS NULL THEN jsonb_build_object('role', ${role}) ELSE '{}'::jsonb END;
      NEW.version := NEW.token_count::text;
      -- Vouched for from the end of a ban (none: always) until not_after (none: no time box); a ban
      -- reaching past not_after leaves no such time.
      NEW.during := CASE
        WHEN coalesce(NEW.banned_until, '-infinity') < coalesce(NEW.not_after, 'infinity')
          THEN tstzrange(coalesce(NEW.banned_until, '-infinity'), coalesce(NEW.not_after, 'infinity'), '[)')
        ELSE 'empty'
      END;
      RETURN NEW;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION ${q.restauth}.session_checks_derived() FROM PUBLIC;
    CREATE TRIGGER restauth_session_checks_derived BEFORE INSERT OR UPDATE ON ${checks}
      FOR EACH ROW EXECUTE FUNCTION ${q.restauth}.session_checks_derived();
    UPDATE ${checks} SET user_id = user_id;
    ALTER TABLE ${checks} ALTER COLUMN vouches SET NOT NULL, ALTER COLUMN during SET NOT NULL;

    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      -- Not named claims: migration 24's query names its parsed claims so.
      token_claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
      through boolean;
      refusal text;
    BEGIN
      ${preRequestVouchQuery(q, 'token_claims', 'INTO through')};
      IF through THEN
        RETURN;
      END IF;
      ${preRequestQuery(q, 'INTO refusal')};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = refusal;
      END IF;
    END
    $fn$;
  `;
}

/**
 * Migration 27's fast path: true when the session's row vouches for `claims` (a jsonb expression):
 * they contain its `vouches` (the sub, the session id, the authenticated role unless the user has
 * another, whose name or the authenticated one the claim may then hold), their token_version is the
 * account's as text, and now is within `during` (no ban, before not_after); no row otherwise.
 */
export function preRequestVouchQuery(q: Names, claims: string, into = '', pinned = false): string {
  const role = q.authenticatedLiteral;
  // Pinned (migration 29): every operator, function and collation named in pg_catalog, so that the
  // caller's search path chooses none of them (preRequestPinned).
  const op = (name: string) => (pinned ? `OPERATOR(pg_catalog.${name})` : name);
  const catalog = pinned ? 'pg_catalog.' : '';
  // Unpinned, the text of migration 27 as it was.
  const field = (name: string) => (pinned ? `(${claims} ${op('->>')} '${name}')` : `${claims} ->> '${name}'`);
  return `SELECT true ${into} FROM ${q.restauth}.session_checks k
        WHERE k.session_id ${op('=')} (${field('session_id')}) COLLATE ${catalog}"C"
          AND ${claims} ${op('@>')} k.vouches AND k.during ${op('@>')} ${catalog}now() AND ${field('token_version')} ${op('=')} k.version
          AND (k.other_role IS NULL OR ${field('role')} ${op('=')} ${role} OR ${field('role')} ${op('=')} k.other_role)`;
}

/**
 * Migration 29: the pre-request runs as its owner (SECURITY DEFINER, to read restauth's tables), and
 * without a search path of its own it resolved its operators, functions and types in its caller's:
 * any role that may call it (PUBLIC may) and create an object in some schema could put its own `->>`
 * or `now()` first in its search path and have it run as the owner, often a superuser. A `SET
 * search_path` clause on the function closes that, but costs every call a settings save and restore
 * (1.5 µs measured, of 12 above a transaction without a pre-request); so the fast path, which decides
 * nearly every request, names each operator, function, type and collation in pg_catalog instead, and
 * what it does not vouch for goes to a function holding migration 24's query with the search path
 * set (pg_catalog, then pg_temp last: otherwise the session's temporary schema is searched first for
 * types). The general check and the triggers' functions, also run as their owner, get that search
 * path too (the triggers' had pg_catalog alone, which leaves pg_temp first for types).
 */
export function preRequestPinned(q: Names): string {
  const pinnedPath = 'SET search_path = pg_catalog, pg_temp';
  const setting = `pg_catalog.current_setting('request.jwt.claims', true)`;
  return `
    -- Not callable by anyone else: check_token_count calls it as their common owner.
    CREATE FUNCTION ${q.restauth}.check_token_on_tables() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER ${pinnedPath} AS $fn$
    DECLARE
      refusal text;
    BEGIN
      ${preRequestQuery(q, 'INTO refusal')};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = refusal;
      END IF;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION ${q.restauth}.check_token_on_tables() FROM PUBLIC;

    ${pinnedCheckTokenCount(q, `CASE WHEN ${setting} OPERATOR(pg_catalog.<>) '' THEN ${setting}::pg_catalog.jsonb END`)}

    ALTER FUNCTION ${q.schema}.check_token_general() ${pinnedPath};
    ALTER FUNCTION ${q.restauth}.session_checks_of_session() ${pinnedPath};
    ALTER FUNCTION ${q.restauth}.session_checks_of_user() ${pinnedPath};
    ALTER FUNCTION ${q.restauth}.session_checks_of_account() ${pinnedPath};
    ALTER FUNCTION ${q.restauth}.session_checks_emptied() ${pinnedPath};
    ALTER FUNCTION ${q.restauth}.session_checks_derived() ${pinnedPath};
    ALTER FUNCTION ${q.restauth}.account_for_user() ${pinnedPath};
  `;
}

/**
 * check_token_count with migration 29's pinned fast path on `claims` (a jsonb expression naming
 * everything in pg_catalog: it is evaluated under the caller's search path), the rest to
 * check_token_on_tables.
 */
function pinnedCheckTokenCount(q: Names, claims: string): string {
  return `
    -- No SET clause (see preRequestPinned): every name below is pg_catalog's or schema-qualified.
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      token_claims pg_catalog.jsonb := ${claims};
      through pg_catalog.bool;
    BEGIN
      ${preRequestVouchQuery(q, 'token_claims', 'INTO through', true)};
      IF through THEN
        RETURN;
      END IF;
      PERFORM ${q.restauth}.check_token_on_tables();
    END
    $fn$;
  `;
}

/**
 * Migration 30: PostgREST before 9, and 9 to 11 on PostgreSQL before 14 unless db-use-legacy-gucs
 * is off, sets each claim as a setting of its own (request.jwt.claim.sub, ...) and leaves
 * request.jwt.claims unset. The fast path read only the latter, so every such request took the
 * check on the tables and the general check (which read the per-claim settings through auth.jwt()):
 * 73 µs of server CPU per transaction against 18 µs with the claims as one JSON text, measured in
 * the in-server loop. When request.jwt.claims is unset or empty, the fast path now reads the claims
 * it compares from those settings, the token version as its text (as auth.jwt() reads it); a row
 * vouches for them as for the same claims in JSON, and what it does not vouch for takes the same
 * way as before. PostgREST 12 sets the JSON text only, as 9 to 11 do on PostgreSQL 14 and later.
 */
export function preRequestLegacyClaims(q: Names): string {
  const setting = (name: string) => `pg_catalog.current_setting('request.jwt.claim${name}', true)`;
  const legacy = ['sub', 'session_id', 'role', 'token_version']
    .map((name) => `'${name}', ${setting(`.${name}`)}`)
    .join(', ');
  return pinnedCheckTokenCount(
    q,
    `CASE WHEN ${setting('s')} OPERATOR(pg_catalog.<>) '' THEN ${setting('s')}::pg_catalog.jsonb
        ELSE pg_catalog.jsonb_build_object(${legacy}) END`,
  );
}

/**
 * Migration 32: the same verdicts as migration 30 in fewer expressions. PostgREST calls the
 * pre-request once per transaction, and PostgreSQL sets up every expression of a PL/pgSQL function
 * and of each query it runs again in every transaction: that set-up, not the lookup's work, was most
 * of the check's cost. Counted in instructions (valgrind's callgrind on a single-user backend running
 * PostgREST's transaction 200 and 400 times, docs/postgrest.md), migration 30's check was about 102,000
 * above a no-op pre-request, of which compiling its claims' ELSE branch (the per-claim settings of
 * PostgREST before 12, built whether used or not) was about 6,000, and SELECT ... INTO with an IF on
 * the variable about 1,300 more than PERFORM and FOUND. So the claims' text is read once into a
 * variable, the JSON fast path is one PERFORM, and the per-claim settings are read, and their
 * expressions set up, only in the branch that needs them (no JSON claims): the same row, the same
 * comparisons, the same fallback to check_token_on_tables. Pinned as migration 29's: every name
 * pg_catalog's or schema-qualified, no SET clause.
 */
export function preRequestFewerExpressions(
  q: Names,
  // migration 27's fast path (pinned) on the jsonb expression `claims`, by default.
  vouchQuery: (claims: string) => string = (claims) => preRequestVouchQuery(q, claims, '', true),
  anonymousExit = false,
  // The claims the fast path reads from PostgREST's per-claim settings (migration 35 adds aud).
  legacyClaims: readonly string[] = ['sub', 'session_id', 'role', 'token_version'],
): string {
  const field = (name: string) => `(token_claims OPERATOR(pg_catalog.->>) '${name}')`;
  // Migration 34: what check_token_general lets through as anonymous, decided here.
  const anonymous = anonymousExit
    ? `
      IF token_claims IS NOT NULL AND ${field('sub')} IS NULL AND ${field('token_version')} IS NULL
          AND ${field('count')} IS NULL THEN
        RETURN;
      END IF;`
    : '';
  const setting = (name: string) => `pg_catalog.current_setting('request.jwt.claim${name}', true)`;
  const legacy = legacyClaims.map((name) => `'${name}', ${setting(`.${name}`)}`).join(', ');
  // The fast path on `token_claims`, as a statement that sets FOUND.
  const vouched = `PERFORM${vouchQuery('token_claims').slice('SELECT'.length)}`;
  return `
    -- No SET clause (see preRequestPinned): every name below is pg_catalog's or schema-qualified.
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      claims_text pg_catalog.text := ${setting('s')};
      token_claims pg_catalog.jsonb :=
        CASE WHEN claims_text OPERATOR(pg_catalog.<>) '' THEN claims_text::pg_catalog.jsonb END;
    BEGIN
      ${vouched};
      IF FOUND THEN
        RETURN;
      END IF;${anonymous}${perClaimSettingsThenTables(q, legacy, vouched)}
  `;
}

/**
 * The end of check_token_count since migration 32: with no JSON claims (`token_claims` NULL), the
 * per-claim settings (`legacy`: jsonb_build_object's arguments) vouched for by `vouched` (a statement
 * setting FOUND); what is not vouched for, to check_token_on_tables.
 */
export function perClaimSettingsThenTables(q: Names, legacy: string, vouched: string): string {
  return `
      -- No JSON claims: PostgREST before 12 (and 9 to 11 on PostgreSQL before 14) sets one setting
      -- per claim (migration 30).
      IF token_claims IS NULL THEN
        token_claims := pg_catalog.jsonb_build_object(${legacy});
        ${vouched};
        IF FOUND THEN
          RETURN;
        END IF;
      END IF;
      PERFORM ${q.restauth}.check_token_on_tables();
    END
    $fn$;`;
}

/**
 * Migration 33: the role joins what a session's row vouches for, and the row is found by a hash index.
 * Migration 27's row held the authenticated role in `vouches` only for a user with no role of its own,
 * and the fast path compared the role claim in a clause of its own (three comparisons and an OR), set
 * up again in every transaction: about 5,700 instructions of migration 32's 96,000 (callgrind, as in
 * preRequestFewerExpressions). Now `vouches` holds the user's role, or the authenticated one when it
 * has none, so the containment compares the role too; a token claiming the authenticated role for a
 * user who has a role of its own (one issued before it was given) is no longer vouched for by the
 * row and takes the check on the tables, which lets it through as before: every verdict is the same.
 * A hash index on the session id finds the row in about 4,400 fewer instructions than the primary
 * key's btree (2,000 sessions), at the price of one more index entry written per session; the btree
 * stays for the triggers' ON CONFLICT. The table is locked first so that no session's row is written
 * by the derivation of before once the check without the role clause is in place.
 */
export function preRequestRoleInVouches(q: Names): string {
  const checks = `${q.restauth}.session_checks`;
  return `
    LOCK TABLE ${checks} IN SHARE ROW EXCLUSIVE MODE;
    ${sessionChecksDerived(q)}
    UPDATE ${checks} SET user_id = user_id;
    COMMENT ON COLUMN ${checks}.vouches IS
      'restauth: what the claims must contain for the pre-request''s fast path (sub, session_id, and role: the user''s own, or the authenticated role when it has none), derived from the row by a trigger';
    CREATE INDEX session_checks_session_id_hash ON ${checks} USING hash (session_id);
    ${preRequestFewerExpressions(q, (claims) => preRequestRoleVouchQuery(q, claims))}
  `;
}

/**
 * Migration 33's fast path: true when the session's row vouches for `claims` (a jsonb expression,
 * pinned as migration 29's): they contain its `vouches` (the sub, the session id and the role), their
 * token_version is the account's as text, and now is within `during`; no row otherwise.
 */
export function preRequestRoleVouchQuery(q: Names, claims: string): string {
  const checks = `${q.restauth}.session_checks`;
  return `SELECT true FROM ${checks} k
        WHERE k.session_id OPERATOR(pg_catalog.=) ((${claims} OPERATOR(pg_catalog.->>) 'session_id')) COLLATE pg_catalog."C"
          AND ${claims} OPERATOR(pg_catalog.@>) k.vouches AND k.during OPERATOR(pg_catalog.@>) pg_catalog.now()
          AND (${claims} OPERATOR(pg_catalog.->>) 'token_version') OPERATOR(pg_catalog.=) k.version`;
}

/**
 * Migration 34: an anonymous request (JSON claims with no sub and no token version or count, PostgREST's
 * for a request without a token) is let through by the function itself, where it went through
 * migration 24's query on the tables and then check_token_general, whose first test lets exactly
 * these through: about 335,000 instructions above a no-op pre-request, 3.7 times a signed-in user's
 * (callgrind, as in preRequestFewerExpressions). The test is set up only when the fast path found no
 * row. Claims set one setting each (no JSON claims) take the way they took.
 */
export function preRequestAnonymousExit(q: Names): string {
  return preRequestFewerExpressions(q, (claims) => preRequestRoleVouchQuery(q, claims), true);
}

/**
 * session_checks_derived as migration 33 made it (each row's vouches: sub, session id, role), as
 * migration 35 makes it with `withAudience` (the user's aud too, when it has one), and as migration 63
 * makes it with `expectedType` (pre-request-claims-record.ts: the claims expected, of that type).
 */
export function sessionChecksDerived(q: Names, withAudience = false, expectedType?: string): string {
  const role = q.authenticatedLiteral;
  const audience = withAudience
    ? `
        || CASE WHEN NEW.aud IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('aud', NEW.aud) END`
    : '';
  // No token count: no token is vouched for (a record equality takes NULL fields as equal).
  const expected = expectedType
    ? `
      NEW.expected := CASE WHEN NEW.token_count IS NOT NULL THEN ROW(NEW.user_id::text, NEW.session_id,
        coalesce(NEW.other_role, ${role}), NEW.token_count::text, NEW.aud)::${expectedType} END;`
    : '';
  return `CREATE OR REPLACE FUNCTION ${q.restauth}.session_checks_derived() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
    BEGIN
      NEW.other_role := nullif(NEW.role, ${role});
      NEW.vouches := jsonb_build_object('sub', NEW.user_id::text, 'session_id', NEW.session_id,
        'role', coalesce(NEW.other_role, ${role}))${audience};
      NEW.version := NEW.token_count::text;${expected}
      -- Vouched for from the end of a ban (none: always) until not_after (none: no time box); a ban
      -- reaching past not_after leaves no such time.
      NEW.during := CASE
        WHEN coalesce(NEW.banned_until, '-infinity') < coalesce(NEW.not_after, 'infinity')
          THEN tstzrange(coalesce(NEW.banned_until, '-infinity'), coalesce(NEW.not_after, 'infinity'), '[)')
        ELSE 'empty'
      END;
      RETURN NEW;
    END
    $fn$;`;
}

/**
 * The triggers' functions writing a session's row: of its session, and of its user. As migration 26
 * created them (`verb` CREATE), and as migration 35 replaces them `withAudience` (the user's aud copied
 * as its role and ban are).
 */
export function sessionChecksOfSessionAndUser(
  q: Names,
  verb: 'CREATE' | 'CREATE OR REPLACE',
  definer: string,
  withAudience = false,
  // Migration 58 (pre-request-standing.ts): a user that no longer stands has no row to vouch for it.
  userStands?: (row: string) => string,
): string {
  const checks = `${q.restauth}.session_checks`;
  const [holderStands, sessionWrite, userWrite] = userStands
    ? [
        `, ${userStands('u')} AS stands`,
        `IF holder.stands IS NOT TRUE THEN
          DELETE FROM ${checks} WHERE session_id = NEW.id::text;
          RETURN NULL;
        END IF;
        `,
        `IF NOT ${userStands('NEW')} THEN
        DELETE FROM ${checks} WHERE user_id = NEW.id;
        RETURN NULL;
      END IF;
      `,
      ]
    : ['', '', ''];
  const [changes, holderAud, audColumn, audValue, audSet, userAud] = withAudience
    ? [
        'role, ban or audience',
        ', u.aud',
        ', aud',
        ', holder.aud',
        `,
            aud = EXCLUDED.aud`,
        ', aud = NEW.aud',
      ]
    : ['role or ban', '', '', '', '', ''];
  return `${verb} FUNCTION ${q.restauth}.session_checks_of_session() RETURNS trigger ${definer} AS $fn$
    DECLARE
      holder record;
      account_count integer;
    BEGIN
      IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id) THEN
        DELETE FROM ${checks} WHERE session_id = OLD.id::text;
      END IF;
      IF TG_OP <> 'DELETE' THEN
        -- Locked FOR SHARE: a change of the user's ${changes}, or of its token count, waits for this
        -- transaction and then finds the row written here (see preRequestOnOneRow).
        SELECT u.role, u.banned_until${holderAud}${holderStands} INTO holder FROM ${q.schema}.users u WHERE u.id = NEW.user_id FOR SHARE;
        SELECT a.token_count INTO account_count FROM ${q.restauth}.accounts a WHERE a.uid = NEW.user_id FOR SHARE;
        ${sessionWrite}INSERT INTO ${checks} (session_id, user_id, role, banned_until, token_count, not_after${audColumn})
          VALUES (NEW.id::text, NEW.user_id, holder.role, holder.banned_until, account_count, NEW.not_after${audValue})
          ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id, role = EXCLUDED.role,
            banned_until = EXCLUDED.banned_until, token_count = EXCLUDED.token_count, not_after = EXCLUDED.not_after${audSet};
      END IF;
      RETURN NULL;
    END
    $fn$;
    ${verb} FUNCTION ${q.restauth}.session_checks_of_user() RETURNS trigger ${definer} AS $fn$
    BEGIN
      ${userWrite}UPDATE ${checks} SET role = NEW.role, banned_until = NEW.banned_until${userAud} WHERE user_id = NEW.id;
      RETURN NULL;
    END
    $fn$;`;
}
