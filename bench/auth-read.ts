/**
 * What a token check costs a data-API read: GET /posts/500 with a valid
 * bearer token beside the same read without one, as a ratio of throughput,
 * for restauth (file mode, json-data-server's config.json) and for
 * json-server-auth 2.1.0 (the same read behind its 660 guard, which verifies
 * the token). Both servers run at once and the loads are interleaved round by
 * round (without, with, with, without); the figures are medians of the rounds,
 * the ratios medians of each round's ratio. Beside the rates, the server's CPU
 * time per request (from /proc): on a machine other work shares, rates swing
 * with the neighbours, what a request costs the server much less.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretKey, webcrypto } from 'node:crypto';
import { jwtVerify } from 'jose';
import { TokenService } from '../src/core/tokens.js';
import { cpuSeconds, freePort, load, startProcess, stopProcess, table } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 10;
const POSTS = 1000;
const repoRoot = join(import.meta.dirname, '..');

interface Server {
  name: string;
  /** The read without a token, and the same read with one. */
  open: string;
  authenticated: string;
  token: string;
  pid: number;
  stop(): Promise<void>;
}

function document(): string {
  return JSON.stringify({
    users: [],
    posts: Array.from({ length: POSTS }, (_, i) => ({
      id: i + 1,
      title: `Post number ${i + 1}`,
      author: `author${i % 97}`,
      views: i % 1000,
      body: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit.',
    })),
  });
}

async function tokenFrom(url: string, body: unknown, field: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  const token = answer[field];
  if (typeof token !== 'string') throw new Error(`${url} answered no ${field}: ${JSON.stringify(answer)}`);
  return token;
}

async function startRestauth(dir: string, name = 'restauth', checkout = repoRoot): Promise<Server> {
  const port = await freePort();
  // posts: 664, anyone reads, so the same read runs with and without a token; a token is always checked.
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      port,
      rules: { posts: 664 },
      // json-data-server's tokens live a minute by default: a run takes longer.
      auth: { jwtSecret: 'bench-secret-0123456789abcdef-0123456789', jwtExpiresIn: '1h' },
    }),
  );
  const child = await startProcess(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(checkout, 'src/cli/main.ts'), 'serve'],
    // Request logs off, as json-server-auth runs --quiet.
    // tsx compiles the TypeScript at each start: slow on a busy machine.
    {
      cwd: dir,
      env: { RESTAUTH_LOG_LEVEL: 'warn' },
      url: `http://127.0.0.1:${port}/posts/1`,
      startTimeoutMs: 120_000,
    },
  );
  const base = `http://127.0.0.1:${port}`;
  const token = await tokenFrom(
    `${base}/auth/register`,
    { username: 'bench', password: 'bench-password-1' },
    'access_token',
  );
  return {
    name,
    open: `${base}/posts/500`,
    authenticated: `${base}/posts/500`,
    token,
    pid: child.pid!,
    stop: () => stopProcess(child),
  };
}

async function startJsonServerAuth(dir: string): Promise<Server> {
  const port = await freePort();
  const child = await startProcess(
    process.execPath,
    [
      join(repoRoot, 'node_modules/json-server-auth/dist/bin.js'),
      'db.json',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--quiet',
    ],
    { cwd: dir, url: `http://127.0.0.1:${port}/posts/1`, startTimeoutMs: 120_000 },
  );
  const base = `http://127.0.0.1:${port}`;
  const token = await tokenFrom(
    `${base}/register`,
    { email: 'bench@example.com', password: 'bench-password-1' },
    'accessToken',
  );
  return {
    name: 'json-server-auth 2.1.0',
    open: `${base}/posts/500`,
    // 660: logged-in users only; its guard verifies the token (jsonwebtoken, HS256) before the read.
    authenticated: `${base}/660/posts/500`,
    token,
    pid: child.pid!,
    stop: () => stopProcess(child),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * One HS256 verification, in this process: restauth's TokenService (fast-jwt, node:crypto) for a token it
 * has not seen (each one new) and for one it verified before (VerifiedTokens: what each request of a
 * client costs after its first), beside jose with a WebCrypto key (what restauth verified with before
 * 26d7422), as CPU time per verification (the process's, so WebCrypto's thread-pool work counts) and wall
 * time, medians of interleaved batches.
 */
async function verifyCosts(): Promise<void> {
  const secret = 'bench-secret-0123456789abcdef-0123456789';
  const tokens = new TokenService({
    secret,
    accessTokenTtl: 3600,
    clockTolerance: 0,
    issuer: null,
    audience: null,
  });
  const now = new Date();
  const sign = async (session: string) =>
    (await tokens.sign({ sub: 'u', role: 'authenticated', session_id: session, token_version: 0 }, now))
      .token;
  const token = await sign('s');
  const cryptoKey = await webcrypto.subtle.importKey(
    'raw',
    createSecretKey(Buffer.from(secret)).export(),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const batch = 5000;
  // Tokens never verified before, signed ahead of each batch (outside its measure).
  let fresh: string[] = [];
  let issued = 0;
  const ways: Record<string, { prepare?: () => Promise<void>; verify: (i: number) => Promise<unknown> }> = {
    'TokenService.verify, a new token (fast-jwt, node:crypto)': {
      prepare: async () => {
        fresh = [];
        for (let i = 0; i < batch; i++) fresh.push(await sign(`s${issued++}`));
      },
      verify: (i) => tokens.verify(fresh[i]!, now),
    },
    'TokenService.verify, a token verified before': { verify: () => tokens.verify(token, now) },
    'jose jwtVerify, WebCrypto key (before)': {
      verify: () => jwtVerify(token, cryptoKey, { algorithms: ['HS256'], currentDate: now }),
    },
  };
  const samples = new Map(
    Object.keys(ways).map((name) => [name, { cpu: [] as number[], wall: [] as number[] }]),
  );
  for (let round = 0; round < 2 * ROUNDS + 1; round++) {
    for (const [name, way] of Object.entries(ways)) {
      await way.prepare?.();
      const cpu = process.cpuUsage();
      const wall = performance.now();
      for (let i = 0; i < batch; i++) await way.verify(i);
      const used = process.cpuUsage(cpu);
      // The first round warms the JIT up.
      if (round === 0) continue;
      samples.get(name)!.cpu.push((used.user + used.system) / batch);
      samples.get(name)!.wall.push(((performance.now() - wall) * 1000) / batch);
    }
  }
  console.log(`\n## One HS256 access-token verification, in process (medians of ${2 * ROUNDS} batches)\n`);
  console.log(
    table(
      [...samples].map(([name, { cpu, wall }]) => ({
        verifier: name,
        'CPU µs': median(cpu).toFixed(1),
        'wall µs': median(wall).toFixed(1),
      })),
    ),
  );
}

export async function runAuthReadBench(): Promise<void> {
  await verifyCosts();
  console.log(
    `\n## An authenticated data-API read by id beside the same read without a token` +
      ` (${POSTS.toLocaleString('en')} posts, ${CONNECTIONS} connections, ${SECONDS} s of each per round, ${ROUNDS} interleaved rounds)\n`,
  );
  const dirs: string[] = [];
  const servers: Server[] = [];
  try {
    const starts: Array<(dir: string) => Promise<Server>> = [(dir) => startRestauth(dir)];
    // BENCH_BASELINE=<a checkout of an older restauth, its node_modules installed>: it runs beside.
    const baseline = process.env.BENCH_BASELINE;
    if (baseline) starts.push((dir) => startRestauth(dir, `restauth (${baseline})`, baseline));
    starts.push(startJsonServerAuth);
    for (const start of starts) {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-auth-read-bench-'));
      dirs.push(dir);
      await writeFile(join(dir, 'db.json'), document());
      servers.push(await start(dir));
    }
    type Samples = { open: number[]; token: number[]; openCpu: number[]; tokenCpu: number[] };
    const samples = new Map<string, Samples>(
      servers.map((server) => [server.name, { open: [], token: [], openCpu: [], tokenCpu: [] }]),
    );
    const failures = new Map(servers.map((server) => [server.name, 0]));
    const measure = async (server: Server, variant: 'open' | 'token', seconds: number) => {
      const cpuBefore = await cpuSeconds(server.pid);
      const result = await load({
        url: variant === 'open' ? server.open : server.authenticated,
        ...(variant === 'token' ? { headers: { authorization: `Bearer ${server.token}` } } : {}),
        connections: CONNECTIONS,
        seconds,
      });
      const cpuMicros = ((await cpuSeconds(server.pid)) - cpuBefore) * 1e6;
      failures.set(server.name, failures.get(server.name)! + result.non2xx + result.errors);
      return { rate: result.requestsPerSecond, cpuPerRequest: cpuMicros / Math.max(result.requests, 1) };
    };
    // Warm-up: the JIT compiles both paths before anything is counted.
    for (const server of servers)
      for (const variant of ['open', 'token'] as const) await measure(server, variant, 1);
    for (let round = 0; round < ROUNDS; round++) {
      for (const server of servers) {
        for (const variant of ['open', 'token', 'token', 'open'] as const) {
          const { rate, cpuPerRequest } = await measure(server, variant, SECONDS / 2);
          const mine = samples.get(server.name)!;
          mine[variant].push(rate);
          mine[variant === 'open' ? 'openCpu' : 'tokenCpu'].push(cpuPerRequest);
        }
      }
    }
    console.log(
      table(
        servers.map((server) => {
          const { open, token, openCpu, tokenCpu } = samples.get(server.name)!;
          return {
            server: server.name,
            'without a token req/s': median(open).toFixed(0),
            'with a token req/s': median(token).toFixed(0),
            'kept (rates)': median(token.map((rate, i) => rate / open[i]!)).toFixed(2),
            'CPU µs/req without': median(openCpu).toFixed(0),
            'CPU µs/req with': median(tokenCpu).toFixed(0),
            'kept (CPU)': median(openCpu.map((cpu, i) => cpu / tokenCpu[i]!)).toFixed(2),
            failures: failures.get(server.name)!,
          };
        }),
      ),
    );
  } finally {
    for (const server of servers) await server.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runAuthReadBench();
