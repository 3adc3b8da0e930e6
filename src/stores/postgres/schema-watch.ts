import { USERS_TABLE } from './user-scope.js';
import type pg from 'pg';
import { restauthSchemaName, type SchemaNames } from './migrations.js';

/**
 * How often /ready looks at the catalogue while the schema was last found whole: a probe every
 * second must not cost a catalogue scan each. While a part is found missing, or a statement met one
 * since the last look, every probe looks, so /ready is ready again as soon as the part is restored.
 */
export const SCHEMA_CHECK_INTERVAL_MS = 30_000;

/**
 * The parts of restauth's schemas that its statements rely on, one line each: every column of a
 * table or view with its type, every function with its arguments. In the users' schema only the
 * objects of the users table's owner count (restauth's, or GoTrue's in a schema GoTrue made): a table
 * someone else keeps there, dropped, is none of restauth's business (as in readiness.ts).
 */
const PARTS = `
  WITH owner AS (
    SELECT u.relowner FROM pg_catalog.pg_class u
      JOIN pg_catalog.pg_namespace un ON un.oid = u.relnamespace
     WHERE un.nspname = $2 AND u.relname = $3
  ), parts AS (
    SELECT format('column %I.%I.%I of type %s', n.nspname, c.relname, a.attname,
                  pg_catalog.format_type(a.atttypid, a.atttypmod)) AS part
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0
       AND NOT a.attisdropped AND (n.nspname <> $2 OR c.relowner = (SELECT relowner FROM owner))
    UNION ALL
    SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
      FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = ANY($1::text[]) AND (n.nspname <> $2 OR p.proowner = (SELECT relowner FROM owner))
  )`;

/**
 * Finds by itself a part of restauth's schema dropped, renamed or retyped under a running server,
 * for /ready, where only a request meeting the gap told it. The parts found at start (after the
 * migrations) are the baseline; a part another instance's newer migration adds is no fault, one
 * gone or of another type is. Each look sends one statement answering one fingerprint of the
 * parts; only when it is not the last fingerprint found whole are the parts themselves read.
 */
export class SchemaWatch {
  private baseline: Set<string> | null = null;
  /** The fingerprint of the parts when they were last found whole: the same again is whole. */
  private wholeFingerprint: string | null = null;
  private lastLook: { at: number; finding: string | null } | null = null;
  /** When a look last found the schema whole: a statement's fault met before it is over. */
  private wholeAt = -Infinity;

  constructor(
    private readonly pool: pg.Pool,
    private readonly names: SchemaNames,
    // Read through the global Date each time: a test that mocks Date moves it.
    private readonly clock: () => number = () => Date.now(),
  ) {}

  /** Takes the baseline: called once the migrations are applied. */
  async capture(): Promise<void> {
    const { fingerprint, parts } = await this.read(true);
    this.baseline = new Set(parts);
    this.wholeFingerprint = fingerprint;
  }

  /**
   * The part found missing or retyped (null: whole). `statementFaultAt`: when a statement last met
   * a schema fault, which makes this look now rather than trust a recent look that found it whole.
   */
  async finding(statementFaultAt: number | null): Promise<string | null> {
    const now = this.clock();
    const last = this.lastLook;
    const recent = last !== null && Math.abs(now - last.at) < SCHEMA_CHECK_INTERVAL_MS;
    const metSince = statementFaultAt !== null && last !== null && statementFaultAt >= last.at;
    if (recent && last.finding === null && !metSince) return null;
    const finding = await this.look();
    this.lastLook = { at: now, finding };
    if (finding === null) this.wholeAt = now;
    return finding;
  }

  /** Whether a statement's fault met at `at` came after the last look that found the schema whole. */
  metSinceWhole(at: number): boolean {
    // A look dated after now (the clock was set back since) orders nothing.
    return at >= this.wholeAt || this.wholeAt > this.clock();
  }

  private async look(): Promise<string | null> {
    if (this.baseline === null) {
      await this.capture();
      return null;
    }
    const { fingerprint } = await this.read(false);
    if (fingerprint === this.wholeFingerprint) return null;
    const { parts } = await this.read(true);
    const present = new Set(parts);
    const missing = [...this.baseline].filter((part) => !present.has(part));
    if (missing.length === 0) {
      // Parts added (a newer instance's migration): whole, and this fingerprint is the whole one now.
      this.wholeFingerprint = fingerprint;
      return null;
    }
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : '';
    return `${missing[0]} is gone or changed${more}`;
  }

  private async read(withParts: boolean): Promise<{ fingerprint: string; parts: string[] }> {
    const { rows } = await this.pool.query<{ fingerprint: string; parts: string[] | null }>(
      `${PARTS} SELECT md5(coalesce(string_agg(part, E'\\n' ORDER BY part), '')) AS fingerprint,
                       ${withParts ? 'array_agg(part ORDER BY part)' : 'NULL::text[]'} AS parts
                  FROM parts`,
      [[this.names.schema, restauthSchemaName(this.names.schema)], this.names.schema, USERS_TABLE],
    );
    return { fingerprint: rows[0]?.fingerprint ?? '', parts: rows[0]?.parts ?? [] };
  }
}

const watches = new WeakMap<pg.Pool, SchemaWatch>();

/** The schema watch of a store's pool, made on first use. */
export function schemaWatchOf(pool: pg.Pool, names: SchemaNames): SchemaWatch {
  let watch = watches.get(pool);
  if (watch === undefined) {
    watch = new SchemaWatch(pool, names);
    watches.set(pool, watch);
  }
  return watch;
}
