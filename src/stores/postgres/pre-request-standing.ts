import { checkTokenGeneral } from './gotrue-sessions.js';
import type { quotedNames } from './migrations.js';
import { checkTokenOnTables } from './pre-request-audience.js';
import { sessionChecksOfSessionAndUser } from './pre-request.js';
import { replicaTriggers } from './replica-triggers.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * The one message of every refusal of the pre-request since migration 58 (SQLSTATE 28P01, PostgREST's
 * 403, as postgrest-auth's check raised). Its reasons told any SQL login in the anonymous role that
 * sets request.jwt.claims and calls the check which account numbers exist, and then, claim by claim,
 * their role, their ban and their token count: PostgREST's clients need only to know that the token
 * is refused, and restauth's own API tells its user why.
 */
export const PRE_REQUEST_REFUSAL = 'token refused: sign in again';

/**
 * Whether the user of the users' row `row` still stands: not soft-deleted (GoTrue's deleted_at) and of
 * restauth's own GoTrue instance (instance_id the nil uuid, or none), as restauth's own API finds users
 * by id (OWN_INSTANCE in postgres-store.ts).
 */
export function userStands(row: string): string {
  return `(${row}.deleted_at IS NULL AND (${row}.instance_id IS NULL OR ${row}.instance_id = '00000000-0000-0000-0000-000000000000'::uuid))`;
}

/**
 * Migration 58: the pre-request refuses a soft-deleted user, and a user moved to another GoTrue
 * instance, at once, with one message for every refusal.
 *
 * Migration 56 signs a soft-deleted user out by a trigger, and the fast path trusts the session rows
 * migration 26's triggers keep. A write with the triggers off (session_replication_role = replica, a
 * sync tool's or a DBA's bulk write) fired none: the sessions and their rows stayed, and the user's
 * tokens passed until they expired; so did a user moved to another instance_id, which no trigger
 * watched. Now:
 * - the check on the tables and the general check refuse a user that no longer stands as one that
 *   no longer exists, whatever the triggers did;
 * - a session's row is not written for such a user, and a change of deleted_at or instance_id
 *   removes its user's rows (their tokens take the check on the tables);
 * - triggers enabled for replica mode only remove the session rows a write in that mode concerns
 *   (a session's, a user's, an account's), so no row vouches for what it no longer copies: a row is
 *   derived by triggers that do not run there, and removing one only sends its tokens to the check
 *   on the tables. On a logical-replication subscriber the rows the publisher wrote follow as usual.
 *   A role that does not own the tables (a database GoTrue's role owns) cannot enable them; they are
 *   then left out, as before.
 */
export function preRequestStanding(q: Names): string {
  const t = sessionTables(q);
  const checks = `${q.restauth}.session_checks`;
  const users = `${q.schema}.users`;
  const definer = 'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp';
  const standing = { refusal: PRE_REQUEST_REFUSAL, userStands };
  const dropped = `${q.restauth}.session_checks_dropped`;
  // A trigger firing in replica mode only (ENABLE REPLICA needs the table's owner): both or neither.
  const replicaTrigger = (name: string, table: string, when: string, args: string) => `
      BEGIN
        CREATE TRIGGER ${name} ${when} ON ${table} ${args};
        ALTER TABLE ${table} ENABLE REPLICA TRIGGER ${name};
      EXCEPTION WHEN insufficient_privilege THEN NULL;
      END;`;
  return `
    LOCK TABLE ${checks} IN SHARE ROW EXCLUSIVE MODE;
    ${sessionChecksOfSessionAndUser(q, 'CREATE OR REPLACE', definer, true, userStands)}
    DROP TRIGGER restauth_session_checks_user ON ${users};
    CREATE TRIGGER restauth_session_checks_user
      AFTER UPDATE OF role, banned_until, aud, deleted_at, instance_id ON ${users} FOR EACH ROW
      WHEN ((OLD.role, OLD.banned_until, OLD.aud, OLD.deleted_at, OLD.instance_id)
        IS DISTINCT FROM (NEW.role, NEW.banned_until, NEW.aud, NEW.deleted_at, NEW.instance_id))
      EXECUTE FUNCTION ${q.restauth}.session_checks_of_user();
    DELETE FROM ${checks} k USING ${users} u WHERE u.id = k.user_id AND NOT ${userStands('u')};

    -- The rows keyed (TG_ARGV[0]: session_id or user_id) by the column TG_ARGV[1] of the old or new row.
    CREATE FUNCTION ${dropped}() RETURNS trigger ${definer} AS $fn$
    DECLARE
      keys text[] := ARRAY[to_jsonb(OLD) ->> TG_ARGV[1], to_jsonb(NEW) ->> TG_ARGV[1]];
    BEGIN
      IF TG_ARGV[0] = 'session_id' THEN
        DELETE FROM ${checks} WHERE session_id = ANY (keys);
      ELSE
        DELETE FROM ${checks} WHERE user_id = ANY (keys::uuid[]);
      END IF;
      RETURN NULL;
    END
    $fn$;
    REVOKE ALL ON FUNCTION ${dropped}() FROM PUBLIC;
    DO $$ BEGIN ${replicaTriggers(q)
      .map((trigger) => replicaTrigger(trigger.name, trigger.table, trigger.when, trigger.action))
      .join('')}
    END $$;

    ${checkTokenOnTables(q, standing)}
    ${checkTokenGeneral(q, t.sessions, true, standing)}
  `;
}
