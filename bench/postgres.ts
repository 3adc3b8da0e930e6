/**
 * PostgreSQL figures: refresh-token rotation throughput through restauth's
 * AuthService on the PostgreSQL store, next to postgrest-auth's way of
 * refreshing (re-issuing an access token after a check, no rotation); and the
 * cost of the pre-request function per PostgREST request, measured with
 * pgbench as a PostgREST-style transaction with and without it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { createServices } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../test/support/postgres.js';
import { table } from './support.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WORKERS = 16;
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function timed(
  seconds: number,
  workers: number,
  step: (worker: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (Date.now() < end) {
        await step(worker);
        done++;
      }
    }),
  );
  return done / seconds;
}

async function pgbench(
  url: string,
  script: string,
  dir: string,
  protocol: 'simple' | 'prepared' = 'simple',
): Promise<number> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(file, script);
  const args = ['-n', '-M', protocol, '-f', file, '-c', '4', '-j', '2', '-T', String(SECONDS), url];
  const { stdout } = await run(PGBENCH, args);
  const match = /tps = ([\d.]+)/.exec(stdout);
  if (!match) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(match[1]);
}

/**
 * What PostgREST (v10 to v12, src/PostgREST/Middleware.hs runPgLocals) sends per request, in one
 * READ COMMITTED transaction: one prepared statement setting search_path, role, the claims, method,
 * path, headers and cookies; then `select <pre-request>();`; then the main query, here the read it
 * builds for `GET /notes?id=eq.1` on a table with the row-level policy of docs/postgrest.md.
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
    `select set_config('search_path', 'public', true), set_config('role', 'normal_user', true), ` +
      `set_config('request.jwt.claims', '${claims}', true), set_config('request.method', 'GET', true), ` +
      `set_config('request.path', '/notes', true), set_config('request.headers', '${headers}', true), ` +
      `set_config('request.cookies', '{}', true);`,
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
    `SELECT set_config('role', 'normal_user', true), set_config('request.jwt.claims', '${claims}', true);`,
    ...(preRequest ? [preRequest] : []),
    'SELECT 1;',
    'COMMIT;',
  ].join('\n');
}

async function preRequestCost(url: string, dir: string, accessToken: string): Promise<void> {
  // The claims of a real restauth token, session_id included: the pre-request checks the session too.
  const claims = JSON.stringify(decodeJwt(accessToken));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`
      CREATE TABLE public.notes (id serial PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid(), body text NOT NULL);
      ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_notes ON public.notes
        USING ((SELECT auth.uid()) = owner) WITH CHECK ((SELECT auth.uid()) = owner);
      GRANT SELECT ON public.notes TO normal_user;
      INSERT INTO public.notes (owner, body) VALUES (${pg.escapeLiteral(String(decodeJwt(accessToken).sub))}, 'hello');
      ANALYZE public.notes;`);
  } finally {
    await client.end();
  }
  const check = 'select "auth"."check_token_count"();';
  const rows = [];
  for (const [shape, mode, script] of [
    [
      'PostgREST GET /notes?id=eq.1 (RLS)',
      'prepared',
      (pre: string | null) => postgrestRequest(claims, accessToken, pre),
    ],
    [
      'PostgREST GET /notes?id=eq.1 (RLS)',
      'simple',
      (pre: string | null) => postgrestRequest(claims, accessToken, pre),
    ],
    ['minimal: set claims, SELECT 1', 'simple', (pre: string | null) => minimalRequest(claims, pre)],
  ] as const) {
    // Interleaved rounds, medians: this shared machine's throughput drifts by tens of percent over
    // a minute, which a single without/with pair mistakes for the pre-request's cost.
    const runs = { without: [] as number[], noop: [] as number[], check: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.without.push(await pgbench(url, script(null), dir, mode));
      // The floor: any pre-request is one more statement, one more round trip.
      runs.noop.push(await pgbench(url, script('select 1;'), dir, mode));
      runs.check.push(await pgbench(url, script(check), dir, mode));
    }
    const without = median(runs.without);
    const added = (from: number) => `${((without / from - 1) * 100).toFixed(1)} %`;
    const perRound = runs.check.map((tps, round) => (runs.without[round]! / tps - 1) * 100);
    rows.push({
      transaction: shape,
      protocol: mode,
      'tps without': without.toFixed(0),
      'tps, no-op pre-request': median(runs.noop).toFixed(0),
      'tps, check_token_count': median(runs.check).toFixed(0),
      'no-op adds': added(median(runs.noop)),
      'check adds': added(median(runs.check)),
      'check adds, per round': perRound.map((value) => `${value.toFixed(0)} %`).join(' '),
    });
  }
  console.log(
    `\n## Pre-request cost (pgbench, 4 clients, ${SECONDS} s each, medians of ${ROUNDS} interleaved rounds)\n`,
  );
  console.log(table(rows));
}

export async function runPostgresBench(): Promise<void> {
  const server = await testPostgres();
  const url = await server.createDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'restauth-pg-bench-'));
  const config = await loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      // The default pool (10): on 2 cores, 20 connections measured 10-30 % slower (more backends
      // than cores switching), 4-8 about the same as 10.
      store: testStoreConfig(url),
      jwt: { secret: 'bench-secret-0123456789abcdef-0123456789' },
      roles: { anonymous: 'web_anon', authenticated: 'normal_user' },
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      logLevel: 'warn',
    },
  });
  const services = await createServices(config, { info: () => {}, warn: () => {} });
  try {
    const { auth } = services;
    await auth.signUp({ username: 'bench', password: 'bench password' });
    const tokens: string[] = [];
    const accessTokens: string[] = [];
    for (let i = 0; i < WORKERS; i++) {
      const issued = await auth.signIn('bench', 'bench password');
      tokens.push(issued.refreshToken);
      accessTokens.push(issued.accessToken);
    }
    const rotations: number[] = [];
    const reissues: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rotations.push(
        await timed(SECONDS, WORKERS, async (worker) => {
          const issued = await auth.refresh(tokens[worker]!);
          tokens[worker] = issued.refreshToken;
        }),
      );
      reissues.push(
        await timed(SECONDS, WORKERS, async (worker) => {
          await auth.reissue(await auth.check(accessTokens[worker]!));
        }),
      );
    }
    const spread = (values: number[]) =>
      `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;
    console.log(
      `\n## PostgreSQL store (${availableParallelism()} cores, ${WORKERS} concurrent clients, pool of ${testStoreConfig(url).poolMax}, ` +
        `${SECONDS} s each, ${ROUNDS} interleaved rounds)\n`,
    );
    console.log(
      table([
        {
          operation: 'refresh with rotation and reuse detection (restauth)',
          'per second (median)': median(rotations).toFixed(0),
          'range over rounds': spread(rotations),
        },
        {
          operation: 'check + re-issue, no rotation (postgrest-auth style)',
          'per second (median)': median(reissues).toFixed(0),
          'range over rounds': spread(reissues),
        },
      ]),
    );

    // pgbench and a server that runs transactions side by side are both needed.
    const noRealServer = realServerOnly();
    const pgbenchMissing = existsSync(PGBENCH) ? null : `${PGBENCH} not found`;
    if (noRealServer ?? pgbenchMissing) {
      console.log(`\nPre-request cost not measured: ${noRealServer ?? pgbenchMissing}.`);
    } else {
      await preRequestCost(url, dir, accessTokens[0]!);
    }
  } finally {
    await services.close();
    await dropDatabase(server.url, url);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runPostgresBench();
