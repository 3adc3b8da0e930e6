import pg from 'pg';
import { quotedNames, type SchemaNames } from './migrations.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/** A trigger migration 58 enables for replica mode only (pre-request-standing.ts). */
export interface ReplicaTrigger {
  name: string;
  /** The table, quoted and schema-qualified. */
  table: string;
  /** Its timing and events (`AFTER ...`). */
  when: string;
  /** `FOR EACH ...` and the function it runs. */
  action: string;
}

/**
 * The triggers that remove the session rows a write in replica mode concerns (session_replication_role
 * = replica: a sync tool, pg_restore, logical replication's apply), so that the pre-request's fast
 * path does not vouch for a ban, sign-out or password change written there.
 */
export function replicaTriggers(q: Names): ReplicaTrigger[] {
  const t = sessionTables(q);
  const dropped = `${q.restauth}.session_checks_dropped`;
  return [
    {
      name: 'restauth_session_checks_replica',
      table: t.sessions,
      when: 'AFTER INSERT OR UPDATE OF id, user_id, not_after OR DELETE',
      action: `FOR EACH ROW EXECUTE FUNCTION ${dropped}('session_id', 'id')`,
    },
    {
      name: 'restauth_session_checks_replica_truncate',
      table: t.sessions,
      when: 'AFTER TRUNCATE',
      action: `FOR EACH STATEMENT EXECUTE FUNCTION ${q.restauth}.session_checks_emptied()`,
    },
    {
      name: 'restauth_session_checks_replica',
      table: `${q.schema}.users`,
      when: 'AFTER UPDATE OF role, banned_until, aud, deleted_at, instance_id OR DELETE',
      action: `FOR EACH ROW EXECUTE FUNCTION ${dropped}('user_id', 'id')`,
    },
    {
      name: 'restauth_session_checks_replica',
      table: `${q.restauth}.accounts`,
      when: 'AFTER INSERT OR UPDATE OF uid, token_count OR DELETE',
      action: `FOR EACH ROW EXECUTE FUNCTION ${dropped}('user_id', 'uid')`,
    },
  ];
}

/** The statements that make `trigger` and enable it for replica mode only (they need the table's owner). */
export function replicaTriggerSql(trigger: ReplicaTrigger): string {
  return (
    `CREATE TRIGGER ${trigger.name} ${trigger.when} ON ${trigger.table} ${trigger.action}; ` +
    `ALTER TABLE ${trigger.table} ENABLE REPLICA TRIGGER ${trigger.name};`
  );
}

/** The replica-mode triggers a database lacks, and the SQL that adds them (replicaTriggersProblem). */
export interface ReplicaTriggersFix {
  /** Each missing trigger, as `<name> on <table>`. */
  missing: string[];
  /** The tables' owners, who alone may enable a trigger for replica mode. */
  owners: string[];
  /** To run as restauth's role: lets the owners run restauth's two trigger functions. */
  grants: string;
  /** To run as the owner: creates and enables the missing triggers. */
  ownerSql: string;
}

/** The missing replica-mode triggers of the database (see replicaTriggersProblem), or null. */
export async function replicaTriggersFix(
  pool: pg.Pool,
  names: SchemaNames,
): Promise<ReplicaTriggersFix | null> {
  const q = quotedNames(names);
  const triggers = replicaTriggers(q);
  const { rows } = await pool.query<{ index: number; owner: string }>(
    `SELECT w.index, pg_catalog.pg_get_userbyid(c.relowner) AS owner
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(rel, name, index)
       JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(w.rel)
      WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                         WHERE t.tgrelid = c.oid AND t.tgname = w.name AND t.tgenabled = 'R')
      ORDER BY w.index`,
    [triggers.map((trigger) => trigger.table), triggers.map((trigger) => trigger.name)],
  );
  if (rows.length === 0) return null;
  const missing = rows.map((row) => triggers[row.index - 1]!);
  const owners = [...new Set(rows.map((row) => row.owner))];
  const grantees = owners.map((owner) => pg.escapeIdentifier(owner)).join(', ');
  return {
    missing: missing.map((trigger) => `${trigger.name} on ${trigger.table}`),
    owners,
    grants:
      `GRANT USAGE ON SCHEMA ${q.restauth} TO ${grantees}; GRANT EXECUTE ON FUNCTION ` +
      `${q.restauth}.session_checks_dropped(), ${q.restauth}.session_checks_emptied() TO ${grantees};`,
    ownerSql: missing.map(replicaTriggerSql).join(' '),
  };
}

/**
 * What `restauth doctor` and the start say when migration 58 left replica-mode triggers out: it
 * creates them only where restauth's role owns the table (a database GoTrue's role owns is the usual
 * case), and skipped the others without a word. A ban, sign-out, deletion or password change written
 * in replica mode is then not seen by the pre-request's fast path until the tokens expire. Null when
 * every one is there; else which are missing, and the SQL that adds them: restauth's role lets the
 * tables' owner run its two trigger functions, then the owner creates and enables the triggers.
 */
export async function replicaTriggersProblem(pool: pg.Pool, names: SchemaNames): Promise<string | null> {
  const fix = await replicaTriggersFix(pool, names);
  if (fix === null) return null;
  return (
    `replica-mode triggers missing: ${fix.missing.join(', ')} (restauth's role does not own the table): ` +
    'a ban, sign-out, deletion or password change written with session_replication_role = replica (a sync ' +
    "tool, pg_restore, logical replication) is let through by PostgREST's pre-request until the tokens " +
    `expire. As restauth's role run: ${fix.grants} Then as the tables' owner (${fix.owners.join(', ')}): ` +
    `${fix.ownerSql} (docs/postgrest.md)`
  );
}

/** The start's warning of replicaTriggersProblem, once the migrations ran. */
export async function warnOfMissingReplicaTriggers(
  pool: pg.Pool,
  names: SchemaNames,
  logger: { warn(message: string): void },
): Promise<void> {
  const problem = await replicaTriggersProblem(pool, names);
  if (problem !== null) logger.warn(`schema ${names.schema}: ${problem}`);
}
