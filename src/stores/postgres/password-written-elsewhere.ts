import pg from 'pg';
import { KNOWN_CLIENT_MS, PASSWORD_SET_PREFIX } from '../../core/account-guess-limit.js';
import type { quotedNames } from './migrations.js';

type Names = ReturnType<typeof quotedNames>;

/** The statement that marks a transaction's writes of encrypted_password as restauth's own (see below). */
export const OWN_PASSWORD_WRITE = "SELECT pg_catalog.set_config('restauth.own_password_write', 'on', true)";

/**
 * Migration 64: a password written by anything but restauth (a GoTrue serving the same database, an
 * administrator's `UPDATE auth.users SET encrypted_password = ...`) ends the guess limit's known
 * clients of its user, as every change through restauth does (passwordSetRecord in
 * account-guess-limit.ts). Without it, a client that signed in with a stolen password stayed exempt
 * from the account's budget for 30 days after the owner had the password replaced outside restauth,
 * and could guess the new one past it.
 *
 * The record is the one restauth's own changes write (`passwordSet:<user id>`, ending KNOWN_CLIENT_MS
 * after the change), dated by the database's clock. restauth's own writes of the column mark their
 * transaction (OWN_PASSWORD_WRITE) and are left alone: a change writes its record itself, dated by
 * restauth's clock beside the caller's own known client, and a rehash of the same password (a
 * sign-in upgrading its hash's parameters) replaces no password. Whoever sets that mark can write
 * the column anyway. SECURITY DEFINER with a pinned search_path: whoever writes the password
 * (GoTrue's role) need not write restauth's tables.
 *
 * The trigger names no column (no `UPDATE OF`, no WHEN on it): PostgreSQL refuses to retype a column
 * a trigger's definition names, and GoTrue's migrations, or a DBA, may retype encrypted_password. So
 * it fires at every update of a user (a sign-in's last_sign_in_at among them) and compares inside.
 */
export function passwordWrittenEndsKnownClientsSql(q: Names): string {
  const fn = `${q.restauth}.password_set_ends_known_clients`;
  return `
    CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp AS $fn$
    BEGIN
      IF NEW.encrypted_password IS NOT DISTINCT FROM OLD.encrypted_password
        OR current_setting('restauth.own_password_write', true) = 'on' THEN
        RETURN NULL;
      END IF;
      INSERT INTO ${q.restauth}.rate_limits AS w (key, reset_at, count)
        VALUES (${pg.escapeLiteral(PASSWORD_SET_PREFIX)} || NEW.id::text,
                now() + ${pg.escapeLiteral(`${KNOWN_CLIENT_MS} milliseconds`)}::interval, 1)
        ON CONFLICT (key) DO UPDATE SET reset_at = EXCLUDED.reset_at, count = 1;
      RETURN NULL;
    END
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;
    COMMENT ON FUNCTION ${fn}() IS
      'restauth: a password written outside restauth ends the known clients of the guess limit, as restauth''s own changes do';
    CREATE TRIGGER restauth_password_set_ends_known_clients
      AFTER UPDATE ON ${q.schema}.users FOR EACH ROW EXECUTE FUNCTION ${fn}();
  `;
}
