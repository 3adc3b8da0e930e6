/**
 * json-server-auth's register and login (POST /register, POST /login) at 100 and 50,000 users: each
 * should cost the same whatever the number of users, as an address is found through an index, not by
 * scanning the users. Measured as the CPU time of this process per request (restauth and json-server-auth
 * 2.1.0 both run in it, in turn, one request at a time), the two sizes and both servers interleaved round
 * by round, medians of BENCH_ROUNDS (5); printed with the ratio 50k / 100 (1.0: no growth) beside
 * json-server-auth's. A login for an unknown address is measured too: it must cost what a known one does.
 * Passwords are bcrypt cost 4 on both sides (restauth passwords.bcryptRounds 4), so what the lookups cost
 * shows instead of the hashing; json-server-auth hashes a new password at its fixed cost 10 (bcryptjs).
 * BENCH_USERS=100,50000 sets the sizes, BENCH_BATCH the requests per measure (20).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { createLogger } from '../src/http/logging.js';
import { createAppOnFiles, type TestApp } from '../test/support/app-on-files.js';
import { startJsonServerAuth, type RunningJsonServerAuth } from '../test/support/json-server-auth.js';
import { table } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 20);
const SIZES = (process.env.BENCH_USERS ?? '100,50000').split(',').map(Number);
const PASSWORD = 'bench-password';

type Send = (path: string, body: unknown) => Promise<number>;
interface Server {
  send: Send;
  close(): Promise<void>;
}

const address = (i: number) => `user${i}@bench.test`;

/** restauth on a db.json and credentials.json holding `count` users with an address and a password. */
async function restauth(count: number, hash: string): Promise<Server> {
  const at = new Date().toISOString();
  const users = Array.from({ length: count }, (_, i) => ({ id: `user${i}` }));
  const account = (i: number) => ({
    username: null,
    email: address(i),
    emailConfirmedAt: at,
    role: null,
    tokenVersion: 0,
    appMetadata: {},
    createdAt: at,
    updatedAt: at,
    lastSignInAt: null,
  });
  const credentials = {
    passwords: users.map(({ id }) => ({ sub: id, password: hash })),
    accounts: Object.fromEntries(users.map(({ id }, i) => [id, account(i)])),
    sessions: {},
    refreshTokens: {},
  };
  const t: TestApp = await createAppOnFiles({
    format: 'restauth',
    // As the other benches run restauth serve: warnings only, to stdout.
    log: createLogger({ level: 'warn', format: 'json' }),
    config: {
      dialects: { jsonServerAuth: { enabled: true } },
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      data: { enabled: true },
    },
    files: { 'db.json': JSON.stringify({ users }), 'credentials.json': JSON.stringify(credentials) },
  });
  return {
    send: async (url, payload) =>
      (await t.app.inject({ method: 'POST', url, payload: payload as object })).statusCode,
    close: () => t.close(),
  };
}

/** json-server-auth 2.1.0 on a db.json holding `count` users as it stores them. */
async function jsonServerAuth(count: number, hash: string): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-jsa-bench-'));
  const users = Array.from({ length: count }, (_, i) => ({ id: i + 1, email: address(i), password: hash }));
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users }));
  const running: RunningJsonServerAuth = await startJsonServerAuth(join(dir, 'db.json'));
  return {
    send: async (path, body) => {
      const response = await fetch(`${running.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await response.arrayBuffer();
      return response.status;
    },
    close: async () => {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const OPERATIONS = {
  register: {
    path: '/register',
    expect: 201,
    body: (n: number) => ({ email: `new${n}@bench.test`, password: PASSWORD }),
  },
  'login, known address': {
    path: '/login',
    expect: 200,
    body: (n: number) => ({ email: address(n % 50), password: PASSWORD }),
  },
  'login, unknown address': {
    path: '/login',
    expect: 400,
    body: (n: number) => ({ email: `nobody${n}@bench.test`, password: PASSWORD }),
  },
} as const;
type Operation = keyof typeof OPERATIONS;

/** CPU µs of this process per request, over BATCH requests one after another. */
async function cpuPerRequest(server: Server, operation: Operation, counter: { n: number }): Promise<number> {
  const { path, expect, body } = OPERATIONS[operation];
  const start = process.cpuUsage();
  for (let i = 0; i < BATCH; i++) {
    const status = await server.send(path, body(counter.n++));
    if (status !== expect) throw new Error(`${operation}: ${status}, expected ${expect}`);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / BATCH;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export async function runJsonServerAuthBench(): Promise<void> {
  const hash = await bcrypt.hash(PASSWORD, 4);
  const kinds = { restauth, 'json-server-auth 2.1.0': jsonServerAuth } as const;
  const servers = new Map<string, Server>();
  for (const size of SIZES)
    for (const [kind, start] of Object.entries(kinds))
      servers.set(`${kind} ${size}`, await start(size, hash));
  const samples = new Map<string, number[]>();
  const counter = { n: 0 };
  try {
    // Round 0 warms each server up; its figures are dropped.
    for (let round = 0; round <= ROUNDS; round++) {
      for (const operation of Object.keys(OPERATIONS) as Operation[]) {
        for (const [key, server] of servers) {
          const cpu = await cpuPerRequest(server, operation, counter);
          if (round === 0) continue;
          const name = `${key}|${operation}`;
          samples.set(name, [...(samples.get(name) ?? []), cpu]);
        }
      }
    }
  } finally {
    for (const server of servers.values()) await server.close();
  }
  const [small, large] = [SIZES[0]!, SIZES.at(-1)!];
  const rows = [];
  for (const kind of Object.keys(kinds)) {
    for (const operation of Object.keys(OPERATIONS)) {
      const at = (size: number) => median(samples.get(`${kind} ${size}|${operation}`) ?? []);
      rows.push({
        server: kind,
        operation,
        [`CPU µs at ${small}`]: at(small).toFixed(0),
        [`CPU µs at ${large}`]: at(large).toFixed(0),
        [`ratio ${large} / ${small}`]: (at(large) / at(small)).toFixed(2),
      });
    }
  }
  console.log(
    `\n## json-server-auth register and login at ${small} and ${large} users (CPU per request, medians of ${ROUNDS} interleaved rounds of ${BATCH})\n`,
  );
  console.log(table(rows));
}
