/**
 * `npm run bench -- postgres-http`: issue 17's refresh over HTTP. A `restauth serve` on PostgreSQL
 * answers GoTrue's rotating refresh (`POST /auth/v1/token?grant_type=refresh_token`) and the
 * postgrest-auth dialect's bearer refresh (`POST /auth/refresh_token`, postgrest-auth's own behaviour:
 * check, then re-issue) to 16 keep-alive clients, one after the other in each round: the rate, p99,
 * PostgreSQL transactions and the server CPU per request (the server process and the database's
 * backends, from /proc), and the ratio of the two by rate and by CPU, beside the database's own ceiling
 * for the rotating refresh (refresh-ceiling.ts). The clients accept gzip, as
 * browsers and auth-js on fetch do, and the server logs at its default level (info).
 * `BENCH_BASELINE=<a checkout of restauth, its node_modules installed>` serves beside it, round by round.
 *
 * The clients write requests on raw sockets: fetch cost its client over 1 ms of CPU per request, more
 * than the server, and on two cores the client's CPU is taken from the server's.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { gunzipSync, inflateSync } from 'node:zlib';
import { join } from 'node:path';
import pg from 'pg';
import { dropDatabase, realServerOnly, testPostgres } from '../test/support/postgres.js';
import { backendTicksSince, cpuTicks, median, transactionsPer } from './postgres.js';
import { PGBENCH } from './postgres-pre-request.js';
import { refreshCeiling, type Rate, type RefreshCeiling } from './refresh-ceiling.js';
import { cpuSeconds, freePort, startProcess, stopProcess, table } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const COUNTED = Number(process.env.BENCH_COUNTED ?? 2000);
const CLIENTS = 16;
const repoRoot = join(import.meta.dirname, '..');
/** The table's rows. */
const STEP_NAMES = {
  rotating: "GoTrue's rotating refresh (rate limits off)",
  bearer: "postgrest-auth's bearer refresh (rate limits off)",
  limited: "GoTrue's rotating refresh, its rate limit on (counted in PostgreSQL)",
};

interface Answer {
  status: number;
  body: string;
}

/** One keep-alive connection asking one request at a time; reads answers with a Content-Length. */
class RawClient {
  private readonly socket: Socket;
  private readonly connected: Promise<void>;
  private received: Buffer = Buffer.alloc(0);
  private waiting: ((answer: Answer) => void) | null = null;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
      this.answerIfWhole();
    });
  }

  async post(path: string, body: string, headers = ''): Promise<Answer> {
    await this.connected;
    const answer = new Promise<Answer>((resolve) => (this.waiting = resolve));
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept-encoding: gzip, deflate\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`,
    );
    return answer;
  }

  close(): void {
    this.socket.destroy();
  }

  private answerIfWhole(): void {
    const headEnd = this.received.indexOf('\r\n\r\n');
    if (this.waiting === null || headEnd === -1) return;
    const head = this.received.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/iu.exec(head)?.[1]);
    if (this.received.length < headEnd + 4 + length) return;
    let body = this.received.subarray(headEnd + 4, headEnd + 4 + length);
    this.received = this.received.subarray(headEnd + 4 + length);
    // The client's work, as a browser's: a baseline may compress its answers.
    const encoding = /\r\ncontent-encoding: *(\w+)/iu.exec(head)?.[1];
    if (encoding === 'gzip') body = gunzipSync(body);
    else if (encoding === 'deflate') body = inflateSync(body);
    const resolve = this.waiting;
    this.waiting = null;
    resolve({ status: Number(head.slice(9, 12)), body: body.toString('utf8') });
  }
}

interface Phase {
  perSecond: number;
  p99Ms: number;
  serverUs: number;
  backendUs: number;
  transactions: number;
}

/**
 * A restauth on a new database, with CLIENTS signed-in sessions: the two refreshes as steps. Rate limits
 * off, or `limited`: the refresh family's limit on, as by default, but too high to refuse any refresh
 * (GoTrue's 150 per 5 minutes and address would answer 429 within a second): its counter's work counts.
 */
async function serve(checkout: string, maintenanceUrl: string, url: string, limited: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-http-'));
  const port = await freePort();
  await writeFile(
    join(dir, 'restauth.json'),
    JSON.stringify({
      port,
      jwt: { secret: 'bench-secret-0123456789abcdef-0123456789' },
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      store: { type: 'postgres', url },
      dialects: { gotrue: {}, postgrestAuth: {} },
      ...(limited ? { rateLimits: { refresh: { max: 1_000_000_000, window: 300 } } } : {}),
    }),
  );
  const child = await startProcess(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(checkout, 'src/cli/main.ts'), 'serve'],
    {
      cwd: dir,
      env: limited ? {} : { RESTAUTH_RATE_LIMITS: 'off' },
      url: `http://127.0.0.1:${port}/health`,
      startTimeoutMs: 120_000,
    },
  );
  const clients = Array.from({ length: CLIENTS }, () => new RawClient(port));
  const post = async (client: number, path: string, body: unknown, headers = '') => {
    const answer = await clients[client]!.post(path, body === undefined ? '' : JSON.stringify(body), headers);
    if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${answer.body}`);
    return JSON.parse(answer.body) as { access_token: string; refresh_token: string };
  };
  const account = { email: 'bench@example.com', password: 'bench password 1' };
  await post(0, '/auth/v1/signup', account);
  const sessions: Array<{ access_token: string; refresh_token: string }> = [];
  for (let client = 0; client < CLIENTS; client++)
    sessions.push(await post(client, '/auth/v1/token?grant_type=password', account));
  const steps = {
    rotating: async (client: number) => {
      const session = sessions[client]!;
      const { refresh_token } = session;
      session.refresh_token = (
        await post(client, '/auth/v1/token?grant_type=refresh_token', { refresh_token })
      ).refresh_token;
    },
    bearer: async (client: number) => {
      await post(
        client,
        '/auth/refresh_token',
        undefined,
        `authorization: Bearer ${sessions[client]!.access_token}\r\n`,
      );
    },
  };
  const observer = new pg.Client({ connectionString: maintenanceUrl });
  await observer.connect();
  const database = new URL(url).pathname.slice(1);
  const backends = async () =>
    (
      await observer.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database])
    ).rows.map((row) => row.pid);
  const measure = async (step: (client: number) => Promise<void>): Promise<Phase> => {
    // Warm: the route's schema compiles at its first request, V8 optimises the path.
    const warm = Date.now() + 5000;
    await Promise.all(
      clients.map(async (_, client) => {
        while (Date.now() < warm) await step(client);
      }),
    );
    const latencies: number[] = [];
    const ticksBefore = new Map((await backends()).map((pid) => [pid, cpuTicks(pid)]));
    const serverBefore = await cpuSeconds(child.pid!);
    const end = Date.now() + SECONDS * 1000;
    await Promise.all(
      clients.map(async (_, client) => {
        while (Date.now() < end) {
          const started = performance.now();
          await step(client);
          latencies.push(performance.now() - started);
        }
      }),
    );
    const serverSeconds = (await cpuSeconds(child.pid!)) - serverBefore;
    const backendTicks = backendTicksSince(ticksBefore, await backends());
    const count = Math.max(1, latencies.length);
    latencies.sort((a, b) => a - b);
    return {
      perSecond: latencies.length / SECONDS,
      p99Ms: latencies[Math.min(count - 1, Math.floor(count * 0.99))] ?? 0,
      serverUs: (serverSeconds * 1e6) / count,
      backendUs: (backendTicks * 10_000) / count,
      transactions: await transactionsPer(url, COUNTED, CLIENTS, step),
    };
  };
  return {
    steps,
    measure,
    close: async () => {
      for (const client of clients) client.close();
      await observer.end();
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function runPostgresHttpBench(): Promise<void> {
  const skip = realServerOnly();
  if (skip) {
    console.log(`\n## PostgreSQL over HTTP: skipped (${skip})`);
    return;
  }
  const server = await testPostgres();
  const checkouts: Array<[string, string]> = [['restauth', repoRoot]];
  if (process.env.BENCH_BASELINE) checkouts.push(['baseline', process.env.BENCH_BASELINE]);
  const results = new Map<string, Phase[]>();
  const ceilings: RefreshCeiling[] = [];
  const loads = [loadavg()[0]!];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, checkout] of checkouts) {
      for (const limited of [false, true]) {
        const url = await server.createDatabase();
        const served = await serve(checkout, server.url, url, limited);
        try {
          // Each refresh goes first every other round: the second runs on a server warmed longer.
          const steps = limited
            ? [['limited', served.steps.rotating] as const]
            : Object.entries(served.steps);
          for (const [step, run] of round % 2 === 0 ? steps : [...steps].reverse()) {
            const key = `${name}: ${STEP_NAMES[step as keyof typeof STEP_NAMES]}`;
            results.set(key, [...(results.get(key) ?? []), await served.measure(run)]);
          }
        } finally {
          await served.close();
          await dropDatabase(server.url, url);
        }
      }
      loads.push(loadavg()[0]!);
    }
    // The database alone, with no server beside it, in each round: the bound the ratio is read against.
    if (!existsSync(PGBENCH)) continue;
    const url = await server.createDatabase();
    try {
      ceilings.push(await refreshCeiling(url, SECONDS));
    } finally {
      await dropDatabase(server.url, url);
    }
  }
  const of = (phases: Phase[], pick: (phase: Phase) => number) => median(phases.map(pick));
  const rows = [...results].map(([name, phases]) => ({
    [`${CLIENTS} clients over HTTP, medians of ${ROUNDS}`]: name,
    'per second': of(phases, (p) => p.perSecond).toFixed(0),
    p99: `${of(phases, (p) => p.p99Ms).toFixed(1)} ms`,
    'transactions each': of(phases, (p) => p.transactions).toFixed(2),
    'server CPU each (Node + backends)': `${of(phases, (p) => p.serverUs + p.backendUs).toFixed(0)} µs (${of(phases, (p) => p.serverUs).toFixed(0)} + ${of(phases, (p) => p.backendUs).toFixed(0)})`,
  }));
  console.log(
    `\n## PostgreSQL over HTTP (${SECONDS} s each, ${ROUNDS} rounds; load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)})\n`,
  );
  console.log(table(rows));
  for (const [name] of checkouts) {
    const rotating = results.get(`${name}: ${STEP_NAMES.rotating}`)!;
    const bearer = results.get(`${name}: ${STEP_NAMES.bearer}`)!;
    const byRate = of(rotating, (p) => p.perSecond) / of(bearer, (p) => p.perSecond);
    const byCpu = of(bearer, (p) => p.serverUs + p.backendUs) / of(rotating, (p) => p.serverUs + p.backendUs);
    console.log(
      `\n${name}: the rotating refresh is ${byRate.toFixed(2)}× the bearer refresh by rate and costs ${byCpu.toFixed(2)}× less server CPU (issue 17: 3× by rate, p99 ≤ 10 ms).`,
    );
  }
  if (ceilings.length === 0) {
    console.log(`\nThe database's ceiling not measured: ${PGBENCH} not found.`);
    return;
  }
  printCeiling(
    ceilings,
    of(results.get(`restauth: ${STEP_NAMES.rotating}`)!, (p) => p.perSecond),
    of(results.get(`restauth: ${STEP_NAMES.bearer}`)!, (p) => p.perSecond),
  );
}

/**
 * The database's ceiling (refresh-ceiling.ts) beside the goal: 3× the bearer refresh measured over
 * HTTP is out of reach when PostgreSQL alone, with the cores to itself, rotates fewer per second; and
 * on shared cores every refresh's CPU (the server's, its backends', its client's) fits in the cores'
 * time divided by the goal's rate, of which the backends' share at the ceiling is printed.
 */
function printCeiling(ceilings: RefreshCeiling[], rotating: number, bearer: number): void {
  const batches = [...ceilings[0]!.rotating.keys()];
  const of = (batch: number, pick: (rate: Rate) => number) =>
    median(ceilings.map((ceiling) => pick(ceiling.rotating.get(batch)!)));
  const best = batches.reduce((a, b) => (of(b, (r) => r.perSecond) > of(a, (r) => r.perSecond) ? b : a));
  const bestRate = of(best, (r) => r.perSecond);
  const peer = (pick: (rate: Rate) => number) => median(ceilings.map((ceiling) => pick(ceiling.peer)));
  const goal = 3 * bearer;
  const budgetUs = (availableParallelism() * 1e6) / goal;
  console.log(
    `\nThe ceiling, PostgreSQL alone (pgbench running the store's refresh statements, ${CLIENTS} refreshes in ` +
      `flight, synchronous_commit ${ceilings[0]!.synchronousCommit}, medians of ${ceilings.length}): ` +
      batches
        .map(
          (batch) =>
            `${of(batch, (r) => r.perSecond).toFixed(0)} rotating refreshes/s with ${batch} per statement ` +
            `(backends ${of(batch, (r) => r.backendUs).toFixed(0)} µs each)`,
        )
        .join(', ') +
      `; postgrest-auth's bearer refresh's one read ${peer((r) => r.perSecond).toFixed(0)}/s ` +
      `(${peer((r) => r.backendUs).toFixed(0)} µs). 3× the bearer refresh over HTTP is ${goal.toFixed(0)}/s, ` +
      `${(goal / bestRate).toFixed(2)}× the database's best rotating rate ` +
      `(${goal > bestRate ? 'beyond what the database does with a write per refresh' : 'within it'}: the ceiling is ` +
      `${(bestRate / bearer).toFixed(2)}× the bearer refresh); the rotating refresh over HTTP reaches ` +
      `${(rotating / bestRate).toFixed(2)} of that ceiling. At ${goal.toFixed(0)}/s on ${availableParallelism()} ` +
      `cores a refresh may cost ${budgetUs.toFixed(0)} µs of CPU in all (server, backends, client), of which ` +
      `the backends at their best take ${of(best, (r) => r.backendUs).toFixed(0)} µs.`,
  );
}
