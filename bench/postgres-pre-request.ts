/**
 * The pre-request function's cost per PostgREST request, restauth's `auth.check_token_count()` beside
 * postgrest-auth's own (v0.0.3: one lookup of the role's token_count), restauth's of migration 24
 * (three lookups in one query, before the session's row), of migration 26 (the session's row
 * compared in eight expressions, before migration 27) and of migration 30 (the verdicts of now in more
 * expressions, set up again in each transaction, before migration 32), measured with pgbench on the same transaction
 * with no pre-request, a no-op one and each check, in interleaved rounds; with postgrest-auth's one
 * user, then with 1,000 and 20,000 users holding a session each, a random one's token per transaction.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { LOCAL_CALL } from '../src/core/audit.js';
import { quotedNames } from '../src/stores/postgres/migrations.js';
import {
  preRequestInOneQuery,
  preRequestLegacyClaims,
  preRequestOnOneRowFunction,
} from '../src/stores/postgres/pre-request.js';
import { preRequestAudienceCheck } from '../src/stores/postgres/pre-request-audience.js';
import { claimedRecord } from '../src/stores/postgres/pre-request-claims-record.js';
import { dropDatabase, realServerOnly, testPostgres } from '../test/support/postgres.js';
import { BENCH_ROLES, benchServices } from './postgres-services.js';
import { table } from './support.js';

const run = promisify(execFile);
const CLIENTS = 4;
/** Transactions whose server CPU time is counted, per round and variant. */
const CPU_TRANSACTIONS = Number(process.env.BENCH_CPU_TRANSACTIONS ?? 5000);
export const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

/** The role postgrest-auth gives each of its users, the one the bench's transactions run as. */
const USER_ROLE = 'bench_user';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function pgbench(
  url: string,
  script: string,
  dir: string,
  seconds: number,
  protocol: 'simple' | 'prepared',
): Promise<number> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(file, script);
  const args = [
    '-n',
    '-M',
    protocol,
    '-f',
    file,
    '-c',
    String(CLIENTS),
    '-j',
    '2',
    '-T',
    String(seconds),
    url,
  ];
  const { stdout } = await run(PGBENCH, args);
  const match = /tps = ([\d.]+)/.exec(stdout);
  if (!match) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(match[1]);
}

/**
 * postgrest-auth v0.0.3's pre-request, as it creates it (its users table, a database role per user,
 * SELECT on the two columns it reads), in a schema of its own beside restauth's, with one user
 * holding the bench's role. It reads the legacy claim setting PostgREST before v9 set, which the
 * bench's transactions set too.
 */
export function postgrestAuthCheck(authenticated: string): string {
  return `
    CREATE SCHEMA postgrest_auth;
    CREATE TABLE postgrest_auth.users (
      id serial PRIMARY KEY, username varchar(20) UNIQUE NOT NULL,
      username_lowercase varchar(20) UNIQUE NOT NULL, email text UNIQUE,
      password text NOT NULL, token_count integer NOT NULL DEFAULT 0);
    CREATE FUNCTION postgrest_auth.check_token_count() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('request.jwt.claim.count', true)::int <>
         (SELECT token_count FROM postgrest_auth.users WHERE username_lowercase = current_user) THEN
        RAISE invalid_password USING message = 'invalid token count';
      END IF;
    END $$;
    -- Roles are the cluster's, not the database's: a run before on the same server (DATABASE_URL)
    -- left it. One with more power than the bench gives it (a login, RLS bypassed) is not reused.
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${USER_ROLE}') THEN
        CREATE ROLE ${USER_ROLE} NOLOGIN;
      ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = '${USER_ROLE}'
                    AND (rolsuper OR rolcanlogin OR rolbypassrls OR rolcreaterole OR rolcreatedb)) THEN
        RAISE 'the role ${USER_ROLE} exists with more rights than the bench gives it: drop it or use another server';
      END IF;
    END $$;
    GRANT ${pg.escapeIdentifier(authenticated)} TO ${USER_ROLE};
    GRANT USAGE ON SCHEMA postgrest_auth TO ${USER_ROLE};
    GRANT SELECT (username_lowercase, token_count) ON postgrest_auth.users TO ${USER_ROLE};
    INSERT INTO postgrest_auth.users (username, username_lowercase, password, token_count)
      VALUES ('${USER_ROLE}', '${USER_ROLE}', 'unused', 0);
  `;
}

/**
 * What PostgREST (v10 to v12, src/PostgREST/Middleware.hs runPgLocals) sends per request, in one
 * READ COMMITTED transaction: one prepared statement setting search_path, role, the claims, method,
 * path, headers and cookies; then `select <pre-request>();`; then the main query, here the read it
 * builds for `GET /notes?id=eq.1` on a table with the row-level policy of docs/postgrest.md. The
 * role is a postgrest-auth user's (a member of the authenticated role), and the claims are both a
 * restauth token's and postgrest-auth's count: the same transaction serves both checks.
 */
function postgrestRequest(claims: string, token: string, preRequest: string | null): string {
  const headers = JSON.stringify({
    accept: '*/*',
    authorization: `Bearer ${token}`,
    host: 'localhost:3001',
    'user-agent': 'curl/8.5.0',
  });
  return [
    'BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;',
    `select set_config('search_path', 'public', true), set_config('role', '${USER_ROLE}', true), ` +
      `set_config('request.jwt.claims', '${claims}', true), set_config('request.jwt.claim.count', '0', true), ` +
      `set_config('request.method', 'GET', true), set_config('request.path', '/notes', true), ` +
      `set_config('request.headers', '${headers}', true), set_config('request.cookies', '{}', true);`,
    ...(preRequest ? [preRequest] : []),
    'WITH pgrst_source AS (SELECT "public"."notes".* FROM "public"."notes" WHERE "public"."notes"."id" = 1) ' +
      'SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ' +
      "coalesce(json_agg(_postgrest_t), '[]')::character varying AS body, " +
      "nullif(current_setting('response.headers', true), '') AS response_headers, " +
      "nullif(current_setting('response.status', true), '') AS response_status " +
      'FROM (SELECT * FROM pgrst_source) _postgrest_t;',
    'COMMIT;',
  ].join('\n');
}

/** The smallest transaction that sets the claims: the pre-request's cost at its most visible. */
function minimalRequest(claims: string, preRequest: string | null): string {
  return [
    'BEGIN;',
    `SELECT set_config('role', '${USER_ROLE}', true), set_config('request.jwt.claims', '${claims}', true), ` +
      `set_config('request.jwt.claim.count', '0', true);`,
    ...(preRequest ? [preRequest] : []),
    'SELECT 1;',
    'COMMIT;',
  ].join('\n');
}

/**
 * The server's own CPU time per transaction (its backend's on-CPU nanoseconds, /proc/<pid>/schedstat),
 * one client running `count` transactions of `statements` back to back as prepared statements:
 * unlike throughput, barely moved by other work on a shared machine. Null where the server's process
 * cannot be read (another machine, a container).
 */
async function backendCpuMicroseconds(
  url: string,
  statements: string[],
  count: number,
): Promise<number | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const onCpu = async () =>
      Number((await readFile(`/proc/${pid}/schedstat`, 'utf8').catch(() => 'NaN')).split(' ')[0]);
    const queries = statements.map((text, i) =>
      /^(BEGIN|COMMIT)/.test(text) ? { text } : { name: `bench_${i}_${text.length}`, text },
    );
    const transaction = async () => {
      for (const query of queries) await client.query(query);
    };
    for (let i = 0; i < 200; i++) await transaction(); // plans and caches made
    const before = await onCpu();
    for (let i = 0; i < count; i++) await transaction();
    const used = ((await onCpu()) - before) / count / 1000;
    return Number.isNaN(used) ? null : used;
  } finally {
    await client.end();
  }
}

/** The claims the in-server loop sets, one token's each transaction in turn: given, or bench_claims' rows. */
type ClaimsSource = { literal: string } | 'bench_claims';

const claimsArray = (claims: ClaimsSource) =>
  claims === 'bench_claims'
    ? 'ARRAY(SELECT claims FROM public.bench_claims ORDER BY token_number)'
    : `ARRAY[${pg.escapeLiteral(claims.literal)}]`;

/**
 * Whether the server may read its backend's /proc/self/schedstat (pg_read_file: a superuser or
 * pg_read_server_files, on Linux), which the in-server loop reads.
 */
async function readsOwnSchedstat(client: pg.Client): Promise<boolean> {
  try {
    await client.query(`SELECT pg_read_file('/proc/self/schedstat')`);
    return true;
  } catch (error) {
    // insufficient_privilege, or undefined_file / io_error where there is no such file.
    const code = (error as { code?: string }).code;
    if (code === '42501' || code === '58P01' || code === '58030') return false;
    throw error;
  }
}

/**
 * BENCH_PRE_REQUEST=loop: only the in-server loop of the floor's table (postgrest-auth's, restauth's
 * and the floor with one user: about a minute, where the whole part runs pgbench for minutes).
 */
const LOOP_ONLY = process.env.BENCH_PRE_REQUEST === 'loop';

/** Transactions per round of the in-server loop, and its rounds (each round a fraction of a second). */
const LOOP_TRANSACTIONS = 3000;
const LOOP_ROUNDS = 9;

/**
 * The server's CPU time per transaction with no client in the loop: a procedure runs `count`
 * transactions (the role and claims set as PostgREST sets them, `call` performed, COMMIT) inside one
 * backend and reads its own /proc/self/schedstat before and after. No round trip, so no context
 * switch per statement: on a busy machine this moves far less than the client-driven count above,
 * and what differs between variants is the functions' own work. Null where the server cannot read
 * /proc (not a superuser, another OS).
 */
async function inServerLoopMicroseconds(
  url: string,
  claims: ClaimsSource,
  call: string | null,
  count: number,
): Promise<number | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const name = `bench_loop_${Math.random().toString(36).slice(2)}`;
  try {
    // Only this is "not measurable here"; any other error (the loop's SQL, a check that raises) fails the bench.
    if (!(await readsOwnSchedstat(client))) return null;
    await client.query(`
      CREATE PROCEDURE public.${name}(n int, INOUT ns bigint DEFAULT 0) LANGUAGE plpgsql AS $p$
      DECLARE
        before bigint;
        -- Each transaction the next token's claims, round the list (the same work for every variant).
        tokens text[] := ${claimsArray(claims)};
        m int := cardinality(tokens);
      BEGIN
        COMMIT;
        -- The kernel adds a running task's CPU time to schedstat only at a scheduler tick (4 ms at 250 Hz)
        -- or when it leaves the CPU: a round of 30 ms read as 28 or 32. A sleep before each reading
        -- makes it leave, so both readings are exact.
        PERFORM pg_sleep(0.0001);
        before := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
        FOR i IN 1..n LOOP
          PERFORM set_config('role', '${USER_ROLE}', true), set_config('request.jwt.claims', tokens[1 + i % m], true),
            set_config('request.jwt.claim.count', '0', true);
          ${call === null ? '' : `PERFORM ${call};`}
          COMMIT;
        END LOOP;
        PERFORM pg_sleep(0.0001);
        ns := (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - before) / n;
      END $p$`);
    // Plans and caches made; a variant costing milliseconds (postgrest-auth's at 20,000 users) runs
    // fewer transactions, a quarter of a second's worth.
    const warm = await client.query<{ ns: string }>(`CALL public.${name}(200)`);
    const n = Math.max(50, Math.min(count, Math.floor(0.25e9 / Math.max(1, Number(warm.rows[0]!.ns)))));
    const { rows } = await client.query<{ ns: string }>(`CALL public.${name}(${n})`);
    return Number(rows[0]!.ns) / 1000;
  } finally {
    await client.query(`DROP PROCEDURE IF EXISTS public.${name}`).catch(() => {});
    await client.end();
  }
}

/** Microseconds one transaction of `clients` concurrent ones takes at `tps`. */
const microseconds = (tps: number) => (CLIENTS / tps) * 1e6;

/** The bench's variants: the pre-request statement of each (null: none). */
const VARIANTS = {
  without: null,
  // The floor: any pre-request is one more statement, one more round trip.
  'no-op': 'select 1;',
  'postgrest-auth': 'select "postgrest_auth"."check_token_count"();',
  restauth: 'select "auth"."check_token_count"();',
  'restauth, migration 30': 'select "auth"."check_token_m30"();',
  'restauth, migration 26': 'select "auth"."check_token_on_one_row"();',
  'restauth, migration 24': 'select "auth"."check_token_in_one_query"();',
} as const;
type Variant = keyof typeof VARIANTS;

/** The statement a variant's pre-request runs inside the in-server loop (PERFORM takes no SELECT). */
const loopCall = (pre: string | null) =>
  pre === null ? null : pre.replace(/^select /, '').replace(/;$/, '');

/**
 * What any check reading the claims PostgREST 9 and later sets (one JSON text, request.jwt.claims) pays
 * before it compares anything, each a step more than the one before, run in the in-server loop only
 * (docs/postgrest.md, "What the pre-request costs"): parsed to jsonb, or (migration 63's way) only the
 * five claims compared read from the text; postgrest-auth's check as it would have to read its count
 * from those claims (its own reads request.jwt.claim.count, which PostgREST 12 no longer sets: there
 * `NULL <> token_count` lets every token through), the fair peer of a check reading them; and
 * restauth's check before migration 63, in the same run.
 */
const FLOORS = {
  'floor: an empty SECURITY DEFINER PL/pgSQL call': 'select "bench_floor"."empty_call"();',
  'floor: + the claims read': 'select "bench_floor"."claims_read"();',
  'floor: + parsed to jsonb': 'select "bench_floor"."claims_parsed"();',
  "floor: + the session's row found, nothing compared": 'select "bench_floor"."session_row_found"();',
  'floor: the claims read, then, not parsed to jsonb, read as the five compared':
    'select "bench_floor"."claims_record"();',
  "floor: + the session's row found by them, nothing compared":
    'select "bench_floor"."session_row_found_by_record"();',
  "postgrest-auth's, its count read from the JSON claims": 'select "bench_floor"."postgrest_auth_json"();',
  'restauth before migration 63 (claims parsed to jsonb)': 'select "auth"."check_token_m35"();',
} as const;
type Floor = keyof typeof FLOORS;
/** postgrest-auth's check as PostgREST 12 would need it: the fair peer of a check reading the JSON claims. */
const POSTGREST_AUTH_JSON: Floor = "postgrest-auth's, its count read from the JSON claims";
const LOOPED: Record<Variant | Floor, string | null> = { ...VARIANTS, ...FLOORS };

/**
 * The functions FLOORS call: the floor's written as restauth's check is (SECURITY DEFINER, no SET clause,
 * pg_catalog named), postgrest-auth's as its own is.
 */
function floorFunctions(names: ReturnType<typeof quotedNames>): string {
  const claims = `pg_catalog.current_setting('request.jwt.claims', true)`;
  const claimed = `${names.restauth}.pre_request_claims := ${claimedRecord(names, claims)};`;
  const fn = (name: string, declare: string, body: string) => `
    CREATE FUNCTION bench_floor.${name}() RETURNS void LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    ${declare ? `DECLARE ${declare}` : ''}
    BEGIN ${body} END $fn$;`;
  return `
    CREATE SCHEMA bench_floor;
    GRANT USAGE ON SCHEMA bench_floor TO ${USER_ROLE};
    ${fn('empty_call', '', '')}
    ${fn('claims_read', `c pg_catalog.text := ${claims};`, '')}
    ${fn('claims_parsed', `c pg_catalog.jsonb := ${claims}::pg_catalog.jsonb;`, '')}
    ${fn(
      'session_row_found',
      `c pg_catalog.jsonb := ${claims}::pg_catalog.jsonb;`,
      `PERFORM FROM restauth.session_checks k
        WHERE k.session_id OPERATOR(pg_catalog.=) (c OPERATOR(pg_catalog.->>) 'session_id') COLLATE pg_catalog."C";
      IF FOUND THEN RETURN; END IF;
      RAISE 'the bench token has no session row';`,
    )}
    ${fn('claims_record', `c ${claimed}`, '')}
    ${fn(
      'session_row_found_by_record',
      `c ${claimed}`,
      `PERFORM FROM restauth.session_checks k WHERE k.session_id OPERATOR(pg_catalog.=) c.session_id;
      IF FOUND THEN RETURN; END IF;
      RAISE 'the bench token has no session row';`,
    )}
    CREATE FUNCTION bench_floor.postgrest_auth_json() RETURNS void LANGUAGE plpgsql AS $fn$
    BEGIN
      IF (current_setting('request.jwt.claims', true)::json ->> 'count')::int <>
         (SELECT token_count FROM postgrest_auth.users WHERE username_lowercase = current_user) THEN
        RAISE invalid_password USING message = 'invalid token count';
      END IF;
    END $fn$;
  `;
}

/** The claims with postgrest-auth's count too, which its JSON variant compares. */
const withCount = (claims: string) => JSON.stringify({ ...(JSON.parse(claims) as object), count: 0 });

/**
 * The claims of a GoTrue-shaped token of the same user and session: what restauth's gotrue dialect adds
 * to them (email, phone, app_metadata, user_metadata, amr, aal, is_anonymous), about 500 bytes where
 * the bench's token is about 200. The parse, and so the floor, grows with the text.
 */
function goTrueShaped(claims: string): string {
  const parsed = JSON.parse(claims) as Record<string, unknown>;
  return withCount(
    JSON.stringify({
      ...parsed,
      email: 'bench@example.com',
      phone: '',
      app_metadata: { provider: 'email', providers: ['email'] },
      user_metadata: {
        email: 'bench@example.com',
        email_verified: true,
        phone_verified: false,
        sub: parsed.sub,
      },
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: parsed.iat }],
      is_anonymous: false,
    }),
  );
}

/** Runs each variant's loop `LOOP_ROUNDS` times, interleaved: each one's µs per transaction. */
async function loopRounds(
  url: string,
  claims: ClaimsSource,
  names: readonly (Variant | Floor)[],
): Promise<Record<string, number[]>> {
  const loop = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  for (let round = 0; round < LOOP_ROUNDS; round++) {
    for (const name of names) {
      const used = await inServerLoopMicroseconds(url, claims, loopCall(LOOPED[name]), LOOP_TRANSACTIONS);
      if (used !== null) loop[name]!.push(used);
    }
  }
  return loop;
}

/**
 * The floor beside postgrest-auth's and restauth's checks in the in-server loop, with the bench's
 * token and with a GoTrue-shaped one, and the checks alone with anonymous claims (PostgREST's for a
 * request without a token; no session, so no floor): µs above a no-op pre-request, and each as a
 * multiple of postgrest-auth's own check and of it reading its count from the JSON claims.
 */
async function printFloor(url: string, claims: string): Promise<void> {
  const all = ['no-op', 'postgrest-auth', 'restauth', ...Object.keys(FLOORS)] as (Variant | Floor)[];
  const checks = all.filter((name) => !name.startsWith('floor:'));
  const rows = [];
  for (const [shape, text, names] of [
    ["the bench's token", withCount(claims), all],
    ['a GoTrue-shaped token', goTrueShaped(claims), all],
    ['anonymous', JSON.stringify({ role: BENCH_ROLES.anonymous }), checks],
  ] as const) {
    const loop = await loopRounds(url, { literal: text }, names);
    if (loop.restauth!.length === 0) return; // printLoop said why
    const above = (name: Variant | Floor) => median(loop[name]!) - median(loop['no-op']!);
    for (const name of names.filter((name) => name !== 'no-op')) {
      rows.push({
        claims: `${shape} (${Buffer.byteLength(text)} bytes)`,
        'pre-request': name,
        'µs above no-op': above(name).toFixed(1),
        "× postgrest-auth's": (above(name) / above('postgrest-auth')).toFixed(2),
        "× postgrest-auth's reading the JSON claims": (above(name) / above(POSTGREST_AUTH_JSON)).toFixed(2),
      });
    }
  }
  console.log(
    `\n## The floor of a check reading PostgREST's JSON claims, in the same loop (${LOOP_TRANSACTIONS} transactions, medians of ${LOOP_ROUNDS} interleaved rounds)\n`,
  );
  console.log(table(rows));
}

export async function preRequestCost(
  url: string,
  dir: string,
  accessToken: string,
  options: { seconds: number; rounds: number; authenticated: string },
): Promise<void> {
  // The claims of a real restauth token, session_id included: the pre-request checks the session too.
  const claims = JSON.stringify(decodeJwt(accessToken));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(postgrestAuthCheck(options.authenticated));
    await client.query(`
      CREATE TABLE public.notes (id serial PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid(), body text NOT NULL);
      ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_notes ON public.notes
        USING ((SELECT auth.uid()) = owner) WITH CHECK ((SELECT auth.uid()) = owner);
      GRANT SELECT ON public.notes TO ${pg.escapeIdentifier(options.authenticated)};
      INSERT INTO public.notes (owner, body) VALUES (${pg.escapeLiteral(String(decodeJwt(accessToken).sub))}, 'hello');
      ANALYZE public.notes;`);
    // restauth's checks of migrations 24, 26 and 30 under other names: the befores beside the now.
    const names = quotedNames({
      schema: 'auth',
      table: 'users',
      anonymousRole: 'anon', // not in the function
      authenticatedRole: options.authenticated,
    });
    const grant = (fn: string) =>
      `GRANT EXECUTE ON FUNCTION auth.${fn}() TO ${pg.escapeIdentifier(options.authenticated)};`;
    await client.query(
      preRequestInOneQuery(names).replace('.check_token_count()', '.check_token_in_one_query()') +
        grant('check_token_in_one_query'),
    );
    await client.query(
      preRequestOnOneRowFunction(names).replace('.check_token_count()', '.check_token_on_one_row()') +
        grant('check_token_on_one_row'),
    );
    await client.query(
      preRequestLegacyClaims(names).replace('.check_token_count()', '.check_token_m30()') +
        grant('check_token_m30'),
    );
    await client.query(
      preRequestAudienceCheck(names).replace('.check_token_count()', '.check_token_m35()') +
        grant('check_token_m35'),
    );
    await client.query(floorFunctions(names));
  } finally {
    await client.end();
  }
  if (LOOP_ONLY) {
    await printFloor(url, claims);
    return;
  }
  const variants = VARIANTS;
  const rows = [];
  for (const [shape, mode, script] of [
    [
      'PostgREST GET /notes?id=eq.1 (RLS)',
      'prepared',
      (pre: string | null) => postgrestRequest(claims, accessToken, pre),
    ],
    ['minimal: set claims, SELECT 1', 'simple', (pre: string | null) => minimalRequest(claims, pre)],
  ] as const) {
    // Interleaved rounds, medians: this shared machine's throughput drifts by tens of percent over
    // a minute, which a single without/with pair mistakes for the pre-request's cost.
    const runs = Object.fromEntries(Object.keys(variants).map((name) => [name, [] as number[]]));
    for (let round = 0; round < options.rounds; round++) {
      for (const [name, pre] of Object.entries(variants)) {
        runs[name]!.push(await pgbench(url, script(pre), dir, options.seconds, mode));
      }
    }
    const tps = (name: Variant) => median(runs[name]!);
    const above = (name: Variant) => microseconds(tps(name)) - microseconds(tps('no-op'));
    // Per round, restauth's cost above the no-op over postgrest-auth's: the ratio the medians hide.
    const perRound = runs.restauth!.map((restauth, round) => {
      const noop = microseconds(runs['no-op']![round]!);
      return (microseconds(restauth) - noop) / (microseconds(runs['postgrest-auth']![round]!) - noop);
    });
    rows.push({
      transaction: shape,
      protocol: mode,
      'tps without': tps('without').toFixed(0),
      'no-op': tps('no-op').toFixed(0),
      'postgrest-auth': tps('postgrest-auth').toFixed(0),
      restauth: tps('restauth').toFixed(0),
      'µs above no-op, postgrest-auth': above('postgrest-auth').toFixed(0),
      'µs above no-op, restauth': above('restauth').toFixed(0),
      'ratio restauth / postgrest-auth': (above('restauth') / above('postgrest-auth')).toFixed(2),
      'ratio migration 30 / postgrest-auth': (
        above('restauth, migration 30') / above('postgrest-auth')
      ).toFixed(2),
      'ratio migration 26 / postgrest-auth': (
        above('restauth, migration 26') / above('postgrest-auth')
      ).toFixed(2),
      'ratio migration 24 / postgrest-auth': (
        above('restauth, migration 24') / above('postgrest-auth')
      ).toFixed(2),
      'per round': perRound.map((ratio) => ratio.toFixed(2)).join(' '),
    });
  }
  // The same minimal transaction, one statement at a time, with the server's CPU time counted.
  const cpu = Object.fromEntries(Object.keys(variants).map((name) => [name, [] as number[]]));
  for (let round = 0; round < options.rounds; round++) {
    for (const [name, pre] of Object.entries(variants)) {
      const statements = minimalRequest(claims, pre)
        .split('\n')
        .map((line) => line.replace(/;$/, ''));
      const used = await backendCpuMicroseconds(url, statements, CPU_TRANSACTIONS);
      if (used !== null) cpu[name]!.push(used);
    }
  }
  // The same transaction looped inside the server: the functions' own cost, least moved by the machine.
  const loop = await loopRounds(url, { literal: claims }, Object.keys(variants) as Variant[]);
  console.log(
    `\n## Pre-request cost (pgbench, ${CLIENTS} clients, ${options.seconds} s each, medians of ${options.rounds} interleaved rounds; ` +
      'µs per transaction above a no-op pre-request; postgrest-auth with its one user)\n',
  );
  console.log(table(rows));
  const printLoop = () => {
    if (loop.restauth!.length === 0) {
      console.log('\nThe in-server loop not measured: the server cannot read /proc/self/schedstat here.');
      return;
    }
    const above = (name: Variant) => median(loop[name]!) - median(loop['no-op']!);
    console.log(
      `\n## The server's CPU per transaction looped inside one backend (${LOOP_TRANSACTIONS} transactions, medians of ${LOOP_ROUNDS} interleaved rounds)\n`,
    );
    console.log(
      table([
        {
          'µs without': median(loop.without!).toFixed(1),
          'no-op': median(loop['no-op']!).toFixed(1),
          'µs above no-op, postgrest-auth': above('postgrest-auth').toFixed(1),
          'µs above no-op, restauth': above('restauth').toFixed(1),
          'ratio restauth / postgrest-auth': (above('restauth') / above('postgrest-auth')).toFixed(2),
          'µs above no-op, migration 30': above('restauth, migration 30').toFixed(1),
          'ratio migration 30 / postgrest-auth': (
            above('restauth, migration 30') / above('postgrest-auth')
          ).toFixed(2),
          'µs above no-op, migration 26': above('restauth, migration 26').toFixed(1),
          'ratio migration 26 / postgrest-auth': (
            above('restauth, migration 26') / above('postgrest-auth')
          ).toFixed(2),
          'µs above no-op, migration 24': above('restauth, migration 24').toFixed(1),
          'ratio migration 24 / postgrest-auth': (
            above('restauth, migration 24') / above('postgrest-auth')
          ).toFixed(2),
        },
      ]),
    );
  };
  if (cpu.restauth!.length === 0) {
    console.log("\nThe server's CPU per transaction not measured: its process cannot be read here.");
  } else {
    const cpuAbove = (name: Variant) => median(cpu[name]!) - median(cpu['no-op']!);
    console.log(
      `\n## The server's CPU per minimal transaction (one client, ${CPU_TRANSACTIONS} transactions, medians of ${options.rounds} rounds)\n`,
    );
    console.log(
      table([
        {
          'µs without': median(cpu.without!).toFixed(1),
          'no-op': median(cpu['no-op']!).toFixed(1),
          'postgrest-auth': median(cpu['postgrest-auth']!).toFixed(1),
          restauth: median(cpu.restauth!).toFixed(1),
          'µs above no-op, postgrest-auth': cpuAbove('postgrest-auth').toFixed(1),
          'µs above no-op, restauth': cpuAbove('restauth').toFixed(1),
          'ratio restauth / postgrest-auth': (cpuAbove('restauth') / cpuAbove('postgrest-auth')).toFixed(2),
          'µs above no-op, migration 30': cpuAbove('restauth, migration 30').toFixed(1),
          'µs above no-op, migration 26': cpuAbove('restauth, migration 26').toFixed(1),
          'µs above no-op, migration 24': cpuAbove('restauth, migration 24').toFixed(1),
          'ratio migration 24 / postgrest-auth': (
            cpuAbove('restauth, migration 24') / cpuAbove('postgrest-auth')
          ).toFixed(2),
        },
      ]),
    );
  }
  printLoop();
  await printFloor(url, claims);
  await costAtSizes(url, dir, claims, options);
}

/** The numbers of users (a session each) the checks are measured at beside postgrest-auth's one. */
const SIZES = [1000, 20_000];
/** The variants measured at each size (the one-user tables above keep the others). */
const SIZED: readonly Variant[] = ['no-op', 'postgrest-auth', 'restauth', 'restauth, migration 26'];

/**
 * Grows both user tables to `size` users: restauth's with a session each (its triggers write the
 * accounts and session rows), postgrest-auth's with users beside the bench's role (whose row the
 * transactions' role reads). The claims of each new user's token, numbered, in bench_claims: a real
 * token's with its sub and session_id replaced.
 */
async function growUsers(client: pg.Client, size: number, claims: string): Promise<void> {
  await client.query(
    `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
       created_at, updated_at, confirmation_token, recovery_token, email_change_token_new, email_change)
     SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', $2,
       'bench-' || i || '@example.com', '{}', '{}', now(), now(), '', '', '', ''
     FROM generate_series((SELECT count(*) FROM auth.users) + 1, $1) i`,
    [size, claimsRole(claims)],
  );
  await client.query(
    `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after)
     SELECT gen_random_uuid(), u.id, now(), now(), 'aal1', now() + interval '1 day' FROM auth.users u
     WHERE u.email LIKE 'bench-%' AND NOT EXISTS (SELECT FROM auth.sessions s WHERE s.user_id = u.id)`,
  );
  await client.query(
    `INSERT INTO postgrest_auth.users (username, username_lowercase, password, token_count)
     SELECT 'bench' || i, 'bench' || i, 'unused', 0
     FROM generate_series((SELECT count(*) FROM postgrest_auth.users) + 1, $1) i`,
    [size],
  );
  await client.query(
    `DROP TABLE IF EXISTS public.bench_claims;
     CREATE TABLE public.bench_claims AS
       SELECT row_number() OVER (ORDER BY s.id) AS token_number,
         (${pg.escapeLiteral(claims)}::jsonb || jsonb_build_object('sub', u.id::text, 'session_id', s.id::text))::text AS claims
       FROM auth.users u JOIN auth.sessions s ON s.user_id = u.id WHERE u.email LIKE 'bench-%';
     ALTER TABLE public.bench_claims ADD PRIMARY KEY (token_number);
     GRANT SELECT ON public.bench_claims TO ${USER_ROLE};
     ANALYZE;`,
  );
}

const claimsRole = (claims: string) => String((JSON.parse(claims) as { role?: unknown }).role);

/**
 * postgrest-auth's lookup as its function runs it, EXPLAINed as the bench's role, and with the
 * comparison put under the database's collation: `current_user` is a `name`, whose collation is "C",
 * so `username_lowercase = current_user` compares under "C" and its index (the database's default
 * collation) cannot serve it. Each plan's first line.
 */
async function postgrestAuthPlans(client: pg.Client): Promise<{ asWritten: string; collated: string }> {
  const plan = async (where: string) => {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL ROLE ${USER_ROLE}`);
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (COSTS OFF) SELECT token_count FROM postgrest_auth.users WHERE ${where}`,
      );
      return rows[0]!['QUERY PLAN'].trim();
    } finally {
      await client.query('ROLLBACK');
    }
  };
  return {
    asWritten: await plan('username_lowercase = current_user'),
    collated: await plan('username_lowercase = current_user COLLATE "default"'),
  };
}

/** The minimal transaction with a random user's claims (pgbench picks the number). */
function randomUserRequest(size: number, preRequest: string | null): string {
  return [
    `\\set n random(1, ${size})`,
    'BEGIN;',
    `SELECT set_config('role', '${USER_ROLE}', true), ` +
      `set_config('request.jwt.claims', (SELECT claims FROM public.bench_claims WHERE token_number = :n), true), ` +
      `set_config('request.jwt.claim.count', '0', true);`,
    ...(preRequest ? [preRequest] : []),
    'SELECT 1;',
    'COMMIT;',
  ].join('\n');
}

/**
 * The checks with 1,000 and 20,000 users: pgbench's minimal transaction with a random user's token
 * and the in-server loop over the users' tokens, restauth's (now and migration 26's) beside
 * postgrest-auth's, whose lookup reads its whole table (EXPLAIN printed first).
 */
async function costAtSizes(
  url: string,
  dir: string,
  claims: string,
  options: { seconds: number; rounds: number },
): Promise<void> {
  const rows = [];
  let plans = { asWritten: '', collated: '' };
  for (const size of SIZES) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let tokens: number;
    try {
      await growUsers(client, size, claims);
      plans = await postgrestAuthPlans(client);
      tokens = Number(
        (await client.query<{ n: string }>('SELECT count(*) AS n FROM public.bench_claims')).rows[0]!.n,
      );
    } finally {
      await client.end();
    }
    const runs = Object.fromEntries(SIZED.map((name) => [name, [] as number[]]));
    for (let round = 0; round < options.rounds; round++) {
      for (const name of SIZED) {
        const script = randomUserRequest(tokens, VARIANTS[name]);
        runs[name]!.push(await pgbench(url, script, dir, options.seconds, 'simple'));
      }
    }
    const loop = await loopRounds(url, 'bench_claims', SIZED);
    const above = (name: Variant) => microseconds(median(runs[name]!)) - microseconds(median(runs['no-op']!));
    const loopAbove = (name: Variant) =>
      loop[name]!.length ? median(loop[name]!) - median(loop['no-op']!) : NaN;
    rows.push({
      users: size.toLocaleString('en'),
      "postgrest-auth's plan": plans.asWritten,
      'pgbench µs above no-op: postgrest-auth': above('postgrest-auth').toFixed(0),
      restauth: above('restauth').toFixed(0),
      'migration 26': above('restauth, migration 26').toFixed(0),
      'ratio restauth / postgrest-auth': (above('restauth') / above('postgrest-auth')).toFixed(3),
      'loop µs above no-op: postgrest-auth': loopAbove('postgrest-auth').toFixed(1),
      'restauth ': loopAbove('restauth').toFixed(1),
      'migration 26 ': loopAbove('restauth, migration 26').toFixed(1),
      'ratio restauth / postgrest-auth ': (loopAbove('restauth') / loopAbove('postgrest-auth')).toFixed(3),
    });
  }
  console.log(
    `\n## Pre-request cost with users holding a session each (a random user's token per transaction; pgbench's ` +
      `minimal transaction, ${CLIENTS} clients, ${options.seconds} s, medians of ${options.rounds} interleaved rounds; ` +
      `the in-server loop, medians of ${LOOP_ROUNDS})\n`,
  );
  console.log(table(rows));
  console.log(
    `\npostgrest-auth's lookup at ${SIZES.at(-1)!.toLocaleString('en')} users: ${plans.asWritten} ` +
      '(`username_lowercase = current_user`: current_user is a name, collated "C", and its index is under the ' +
      `database's collation, so it cannot serve the comparison); with COLLATE "default": ${plans.collated}.`,
  );
}

/**
 * This part alone (`node --import tsx bench/postgres-pre-request.ts`), on a database of its own with one
 * user signed in: `npm run bench -- postgres` runs it after the refresh figures, which take minutes more.
 */
export async function runPreRequestBench(): Promise<void> {
  const noRealServer = realServerOnly();
  if (noRealServer ?? !existsSync(PGBENCH)) {
    console.log(`\nPre-request cost not measured: ${noRealServer ?? `${PGBENCH} not found`}.`);
    return;
  }
  const server = await testPostgres();
  const url = await server.createDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'restauth-pre-request-bench-'));
  const { services } = await benchServices(url, dir);
  try {
    await services.auth.signUp(LOCAL_CALL, { username: 'bench', password: 'bench password' });
    const { accessToken } = await services.auth.signIn(LOCAL_CALL, 'bench', 'bench password');
    await preRequestCost(url, dir, accessToken, {
      seconds: Number(process.env.BENCH_SECONDS ?? 5),
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
      authenticated: BENCH_ROLES.authenticated,
    });
  } finally {
    await services.close();
    await dropDatabase(server.url, url);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runPreRequestBench();
