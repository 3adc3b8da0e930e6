/**
 * Login throughput, as a ratio of this machine's hash-bound limit: a login is
 * one password verification, so no server can log in more than
 * (cores ÷ time of one verify) users a second. Measured for argon2id
 * (restauth's default) and bcrypt cost 10 (a json-data-server config), side
 * by side with json-server-auth 2.1.0 (bcryptjs cost 10) on the same machine.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswordHasher, type PasswordAlgorithm } from '../src/core/passwords.js';
import { freePort, load, startProcess, stopProcess, table } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 16;
const PASSWORD = 'correct horse battery staple';
const repoRoot = join(import.meta.dirname, '..');

async function verifyMs(algorithm: PasswordAlgorithm): Promise<number> {
  const hasher = new PasswordHasher({
    algorithm,
    bcryptRounds: 10,
    rehashOnSignIn: false,
    minLength: 1,
    maxLength: 1024,
    passwordPattern: '.*',
    maxQueue: 0,
    concurrency: 1,
  });
  const hash = await hasher.hash(PASSWORD);
  const samples: number[] = [];
  for (let i = 0; i < 25; i++) {
    const start = performance.now();
    await hasher.verify(PASSWORD, hash);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
}

async function restauthLogins(
  algorithm: PasswordAlgorithm,
): Promise<{ rps: number; p99: number; failures: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-'));
  const port = await freePort();
  const config =
    algorithm === 'bcrypt'
      ? {
          file: 'config.json',
          body: { port, auth: { passwordSalt: 10, jwtSecret: 'bench-secret-bench-secret-bench-secret' } },
        }
      : { file: 'restauth.json', body: { port, jwt: { secret: 'bench-secret-bench-secret-bench-secret' } } };
  await writeFile(join(dir, config.file), JSON.stringify(config.body));
  const base = `http://127.0.0.1:${port}`;
  const server = await startProcess(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src/cli/main.ts'), 'serve'],
    {
      cwd: dir,
      env: { RESTAUTH_LOG_LEVEL: 'warn', RESTAUTH_RATE_LIMITS: 'off' },
      url: base,
    },
  );
  return registerThenLogIn(server, dir, `${base}/auth/register`, `${base}/auth/login`, { username: 'bench' });
}

/** Registers one user, then logs it in under load; stops the server and removes its folder after. */
async function registerThenLogIn(
  server: ChildProcess,
  dir: string,
  registerUrl: string,
  loginUrl: string,
  identity: Record<string, string>,
): Promise<{ rps: number; p99: number; failures: number }> {
  try {
    await post(registerUrl, { ...identity, password: PASSWORD });
    const result = await load({
      url: loginUrl,
      method: 'POST',
      body: { ...identity, password: PASSWORD },
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    return { rps: result.requestsPerSecond, p99: result.p99Ms, failures: result.non2xx + result.errors };
  } finally {
    await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
  }
}

async function jsonServerAuthLogins(): Promise<{ rps: number; p99: number; failures: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'jsa-bench-'));
  const port = await freePort();
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [] }));
  const base = `http://127.0.0.1:${port}`;
  const bin = join(repoRoot, 'node_modules/json-server-auth/dist/bin.js');
  const server = await startProcess(process.execPath, [bin, 'db.json', '--port', String(port), '--quiet'], {
    cwd: dir,
    url: base,
  });
  return registerThenLogIn(server, dir, `${base}/register`, `${base}/login`, { email: 'bench@example.com' });
}

export async function runLoginBench(): Promise<void> {
  const cores = availableParallelism();
  console.log(`\n## Login throughput (${cores} cores, ${CONNECTIONS} connections, ${SECONDS} s each)\n`);
  const rows: Array<Record<string, string | number>> = [];
  const bcryptMs = await verifyMs('bcrypt');
  for (const algorithm of ['argon2id', 'bcrypt'] as const) {
    const ms = algorithm === 'bcrypt' ? bcryptMs : await verifyMs(algorithm);
    const limit = (cores * 1000) / ms;
    const run = await restauthLogins(algorithm);
    rows.push({
      server: `restauth (${algorithm === 'bcrypt' ? 'bcrypt cost 10' : 'argon2id'})`,
      'one verify ms': ms.toFixed(1),
      'hash-bound limit/s': limit.toFixed(1),
      'logins/s': run.rps.toFixed(1),
      'p99 ms': run.p99,
      'ratio to limit': (run.rps / limit).toFixed(2),
      failures: run.failures,
    });
  }
  const peer = await jsonServerAuthLogins();
  const bcryptLimit = (cores * 1000) / bcryptMs;
  rows.push({
    server: 'json-server-auth 2.1.0 (bcryptjs cost 10)',
    'one verify ms': '-',
    'hash-bound limit/s': bcryptLimit.toFixed(1),
    'logins/s': peer.rps.toFixed(1),
    'p99 ms': peer.p99,
    'ratio to limit': (peer.rps / bcryptLimit).toFixed(2),
    failures: peer.failures,
  });
  console.log(table(rows));
  const restauthBcrypt = Number(rows[1]!['logins/s']);
  console.log(`\nrestauth (bcrypt 10) ÷ json-server-auth: ${(restauthBcrypt / peer.rps).toFixed(2)}×`);
}

if (import.meta.url === `file://${process.argv[1]}`) await runLoginBench();
