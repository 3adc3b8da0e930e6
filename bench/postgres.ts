/**
 * PostgreSQL figures: refresh-token rotation throughput through restauth's
 * AuthService on the PostgreSQL store, next to postgrest-auth's way of
 * refreshing (re-issuing an access token after a check, no rotation); and the
 * cost of the pre-request function per PostgREST request, measured with
 * pgbench as a PostgREST-style transaction with and without it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServices } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import { dropDatabase, testPostgres } from '../test/support/postgres.js';
import { table } from './support.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WORKERS = 16;

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

async function pgbench(url: string, script: string, dir: string): Promise<number> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(file, script);
  const bin = '/usr/lib/postgresql/15/bin/pgbench';
  const { stdout } = await run(bin, ['-n', '-f', file, '-c', '4', '-j', '2', '-T', String(SECONDS), url]);
  const match = /tps = ([\d.]+)/.exec(stdout);
  if (!match) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(match[1]);
}

export async function runPostgresBench(): Promise<void> {
  const server = await testPostgres();
  const url = await server.createDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'restauth-pg-bench-'));
  const config = await loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      store: { type: 'postgres', url, poolMax: 20 },
      jwt: { secret: 'bench-secret-0123456789abcdef' },
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
    const rotations = await timed(SECONDS, WORKERS, async (worker) => {
      const issued = await auth.refresh(tokens[worker]!);
      tokens[worker] = issued.refreshToken;
    });
    const reissues = await timed(SECONDS, WORKERS, async (worker) => {
      await auth.reissue(await auth.check(accessTokens[worker]!));
    });
    console.log(
      `\n## PostgreSQL store (${availableParallelism()} cores, ${WORKERS} concurrent clients, ${SECONDS} s each)\n`,
    );
    console.log(
      table([
        {
          operation: 'refresh with rotation and reuse detection (restauth)',
          'per second': rotations.toFixed(0),
        },
        {
          operation: 'check + re-issue, no rotation (postgrest-auth style)',
          'per second': reissues.toFixed(0),
        },
      ]),
    );

    // A PostgREST request as PostgREST sends it: one statement setting the role and the claims, then the
    // pre-request (its own statement), then the query, in one transaction.
    const user = await services.store.findUserByUsername('bench');
    const claims = JSON.stringify({ role: 'normal_user', sub: user!.id, token_version: user!.tokenVersion });
    const body = (preRequest: string | null) =>
      [
        'BEGIN;',
        `SELECT set_config('role', 'normal_user', true), set_config('request.jwt.claims', '${claims}', true);`,
        ...(preRequest ? [preRequest] : []),
        'SELECT 1;',
        'COMMIT;',
      ].join('\n');
    const without = await pgbench(url, body(null), dir);
    const noop = await pgbench(url, body('SELECT 1;'), dir);
    const withCheck = await pgbench(url, body('SELECT auth.check_token_count();'), dir);
    console.log(`\n## Pre-request cost (pgbench, 4 clients, ${SECONDS} s)\n`);
    console.log(
      table([
        { transaction: 'no pre-request', tps: without.toFixed(0) },
        { transaction: 'a no-op pre-request statement (SELECT 1)', tps: noop.toFixed(0) },
        { transaction: 'auth.check_token_count()', tps: withCheck.toFixed(0) },
      ]),
    );
    console.log(`\nthe pre-request adds ${((without / withCheck - 1) * 100).toFixed(1)} % per request;`);
    console.log(
      `its own work, beyond the statement's round trip, adds ${((noop / withCheck - 1) * 100).toFixed(1)} %`,
    );
  } finally {
    await services.close();
    await dropDatabase(server.url, url);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runPostgresBench();
