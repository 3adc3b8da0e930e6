import type { quotedNames } from './migrations.js';
import { preRequestFewerExpressions, preRequestQuery, preRequestRoleVouchQuery } from './pre-request.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 35: the pre-request refuses a token whose `aud` is not its user's (auth.users.aud), the
 * rule restauth's own checks follow (AuthService: every dialect signs the user's audience, and a token
 * saying another is refused). PostgREST's jwt-aud compares the claim with one configured audience
 * only: a token signed for this audience for a user of another (by postgrest-auth and json-data-server
 * before they signed the user's own, or before an administrator moved the user to another audience)
 * was let through until it expired, seven days with postgrest-auth's default payload.exp.
 *
 * Each session's row keeps its user's audience, copied by the triggers as the role and ban are, and
 * `vouches` holds it, so the fast path's one containment compares it too: a token of the user's
 * audience is let through as before. Any other (another audience, none at all: signed before there was
 * one) takes the check on the tables, which refuses another audience and lets a token with none
 * through, as restauth's own check does; PostgREST before 12 gives the aud claim a setting of its
 * own, which the fast path now reads with the others.
 */
export function preRequestAudience(q: Names): string {
  const checks = `${q.restauth}.session_checks`;
  const role = q.authenticatedLiteral;
  const definer = 'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp';
  return `
    LOCK TABLE ${checks} IN SHARE ROW EXCLUSIVE MODE;
    ALTER TABLE ${checks} ADD COLUMN aud text;

    CREATE OR REPLACE FUNCTION ${q.restauth}.session_checks_of_session() RETURNS trigger ${definer} AS $fn$
    DECLARE
      holder record;
      account_count integer;
    BEGIN
      IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id) THEN
        DELETE FROM ${checks} WHERE session_id = OLD.id::text;
      END IF;
      IF TG_OP <> 'DELETE' THEN
        -- Locked FOR SHARE: a change of the user's role, ban or audience, or of its token count, waits
        -- for this transaction and then finds the row written here (see preRequestOnOneRow).
        SELECT u.role, u.banned_until, u.aud INTO holder FROM ${q.schema}.users u WHERE u.id = NEW.user_id FOR SHARE;
        SELECT a.token_count INTO account_count FROM ${q.restauth}.accounts a WHERE a.uid = NEW.user_id FOR SHARE;
        INSERT INTO ${checks} (session_id, user_id, role, banned_until, token_count, not_after, aud)
          VALUES (NEW.id::text, NEW.user_id, holder.role, holder.banned_until, account_count, NEW.not_after, holder.aud)
          ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id, role = EXCLUDED.role,
            banned_until = EXCLUDED.banned_until, token_count = EXCLUDED.token_count,
            not_after = EXCLUDED.not_after, aud = EXCLUDED.aud;
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE OR REPLACE FUNCTION ${q.restauth}.session_checks_of_user() RETURNS trigger ${definer} AS $fn$
    BEGIN
      UPDATE ${checks} SET role = NEW.role, banned_until = NEW.banned_until, aud = NEW.aud WHERE user_id = NEW.id;
      RETURN NULL;
    END
    $fn$;
    DROP TRIGGER restauth_session_checks_user ON ${q.schema}.users;
    CREATE TRIGGER restauth_session_checks_user AFTER UPDATE OF role, banned_until, aud ON ${q.schema}.users
      FOR EACH ROW WHEN ((OLD.role, OLD.banned_until, OLD.aud) IS DISTINCT FROM (NEW.role, NEW.banned_until, NEW.aud))
      EXECUTE FUNCTION ${q.restauth}.session_checks_of_user();

    CREATE OR REPLACE FUNCTION ${q.restauth}.session_checks_derived() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
    BEGIN
      NEW.other_role := nullif(NEW.role, ${role});
      NEW.vouches := jsonb_build_object('sub', NEW.user_id::text, 'session_id', NEW.session_id,
        'role', coalesce(NEW.other_role, ${role}))
        || CASE WHEN NEW.aud IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('aud', NEW.aud) END;
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
    UPDATE ${checks} k SET aud = u.aud FROM ${q.schema}.users u WHERE u.id = k.user_id;
    COMMENT ON COLUMN ${checks}.vouches IS
      'restauth: what the claims must contain for the pre-request''s fast path (sub, session_id, role: the user''s own or the authenticated role, and aud: the user''s audience when it has one), derived from the row by a trigger';

    CREATE OR REPLACE FUNCTION ${q.restauth}.check_token_on_tables() RETURNS void
      ${definer.replace('plpgsql', 'plpgsql STABLE')} AS $fn$
    DECLARE
      refusal text;
    BEGIN
      ${preRequestQuery(q, 'INTO refusal', true)};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = refusal;
      END IF;
    END
    $fn$;

    ${preRequestFewerExpressions(q, (claims) => preRequestRoleVouchQuery(q, claims), true, [
      'sub',
      'session_id',
      'role',
      'token_version',
      'aud',
    ])}
  `;
}
