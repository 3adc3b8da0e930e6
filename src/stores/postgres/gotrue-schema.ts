import type pg from 'pg';
import { bookkeepingTable } from './bookkeeping.js';
import type { quotedNames } from './migrations.js';

/**
 * The versions GoTrue (supabase/auth) records in `<schema>.schema_migrations`,
 * one per file of its `migrations/` folder: pop stores the digits before the
 * file name's first `_`. Read from supabase/auth as of 2026-08-20; see
 * docs/postgres-schema.md for what each table they create holds.
 */
export const GOTRUE_VERSIONS: readonly string[] = [
  '00',
  '20210710035447',
  '20210722035447',
  '20210730183235',
  '20210909172000',
  '20210927181326',
  '20211122151130',
  '20211124214934',
  '20211202183645',
  '20220114185221',
  '20220114185340',
  '20220224000811',
  '20220323170000',
  '20220429102000',
  '20220531120530',
  '20220614074223',
  '20220811173540',
  '20221003041349',
  '20221003041400',
  '20221011041400',
  '20221020193600',
  '20221021073300',
  '20221021082433',
  '20221027105023',
  '20221114143122',
  '20221114143410',
  '20221125140132',
  '20221208132122',
  '20221215195500',
  '20221215195800',
  '20221215195900',
  '20230116124310',
  '20230116124412',
  '20230131181311',
  '20230322519590',
  '20230402418590',
  '20230411005111',
  '20230508135423',
  '20230523124323',
  '20230818113222',
  '20230914180801',
  '20231027141322',
  '20231114161723',
  '20231117164230',
  '20240115144230',
  '20240214120130',
  '20240306115329',
  '20240314092811',
  '20240427152123',
  '20240612123726',
  '20240729123726',
  '20240802193726',
  '20240806073726',
  '20241009103726',
  '20250717082212',
  '20250731150234',
  '20250804100000',
  '20250901200500',
  '20250903112500',
  '20250904133000',
  '20250925093508',
  '20251007112900',
  '20251104100000',
  '20251111201300',
  '20251201000000',
  '20260115000000',
  '20260121000000',
  '20260219120000',
  '20260302000000',
  '20260625000000',
];

export const NEWEST_KNOWN_GOTRUE_VERSION = GOTRUE_VERSIONS[GOTRUE_VERSIONS.length - 1]!;

/** A pop version as a number: all digits (GoTrue's are), compared by value, not as text ('00' < '2021...'). */
function versionValue(version: string): bigint | null {
  return /^[0-9]{1,40}$/.test(version) ? BigInt(version) : null;
}

/**
 * The versions that are newer than any restauth knows, or not versions at all
 * (pop writes digits only), newest first. Older unknown ones are fine: hosted
 * Supabase databases carry a few 2017/2018 versions of the Netlify GoTrue
 * Supabase forked, older than every file of supabase/auth.
 */
export function unknownNewerVersions(versions: readonly string[]): string[] {
  const newestKnown = versionValue(NEWEST_KNOWN_GOTRUE_VERSION)!;
  const known = new Set(GOTRUE_VERSIONS);
  return versions
    .filter((version) => {
      if (known.has(version)) return false;
      const value = versionValue(version);
      return value === null || value > newestKnown;
    })
    .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

/**
 * What GoTrue recorded in a schema (`schema` quoted, as quotedNames() makes it): its versions, newest
 * first; empty when GoTrue never migrated it.
 */
export async function gotrueVersions(client: pg.ClientBase | pg.Pool, schema: string): Promise<string[]> {
  const table = `${schema}.schema_migrations`;
  const { rows: found } = await client.query<{ exists: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS exists',
    [table],
  );
  if (!found[0]!.exists) return [];
  const { rows } = await client.query<{ version: string }>(`SELECT version::text AS version FROM ${table}`);
  return rows
    .map((row) => row.version)
    .sort((a, b) => {
      const [x, y] = [versionValue(a), versionValue(b)];
      if (x !== null && y !== null) return x < y ? 1 : x > y ? -1 : 0;
      return a < b ? 1 : a > b ? -1 : 0;
    });
}

/** The start (or `restauth migrate`) refuses a database it must not write to, saying why in one line. */
export class SchemaRefusedError extends Error {
  override readonly name = 'SchemaRefusedError';
}

/**
 * A schema GoTrue made (its `schema_migrations` has rows, and restauth never
 * migrated it): restauth serves it as it is (gotrue-adopt.ts) when it knows
 * every migration GoTrue recorded there (or they are older than the newest
 * it knows: Supabase's 2017/2018 rows) and finds every one it knows.
 * Otherwise it is refused before anything is written, naming the GoTrue
 * migration newer than restauth knows, or the first one missing. Returns the
 * versions of a schema to serve, or null when GoTrue did not make it.
 */
export async function goTrueSchemaToServe(
  client: pg.ClientBase,
  q: Pick<ReturnType<typeof quotedNames>, 'schema' | 'restauth'>,
  schemaName: string,
): Promise<string[] | null> {
  // restauth's bookkeeping, in either place: restauth migrated this schema (and may have recorded GoTrue versions).
  if ((await bookkeepingTable(client, q)) !== null) return null;
  const versions = await gotrueVersions(client, q.schema);
  if (versions.length === 0) return null;
  const unknown = unknownNewerVersions(versions);
  const recorded = new Set(versions);
  const missing = GOTRUE_VERSIONS.find((version) => !recorded.has(version));
  if (unknown.length === 0 && missing === undefined) return versions;
  const why =
    unknown.length > 0
      ? `GoTrue migration ${unknown[0]!} is newer than any restauth knows (${NEWEST_KNOWN_GOTRUE_VERSION})`
      : `GoTrue migration ${missing!} has not run on it (restauth serves a schema GoTrue migrated up to ` +
        `${NEWEST_KNOWN_GOTRUE_VERSION}: start that GoTrue on it once first)`;
  throw new SchemaRefusedError(
    `schema ${schemaName} was made by GoTrue (Supabase Auth): ${why}. restauth wrote nothing to the database ` +
      '(docs/postgres-schema.md)',
  );
}
