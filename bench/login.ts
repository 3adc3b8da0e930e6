/**
 * Login throughput, as a ratio of this machine's hash bound: a login is one
 * password verification, so no server logs in more users a second than the
 * machine's cores verify in parallel with nothing else running. The bound is
 * measured here (one worker thread per core verifying in a loop, no HTTP),
 * beside the naive cores ÷ one verify, for argon2id (restauth's default) and
 * bcrypt cost 10 (a json-data-server config); restauth's logins are measured
 * on the file store and on PostgreSQL, interleaved with the bound round by
 * round (the machine's other load moves both alike), while a cheap route
 * (`/health`, and a data-API read by id on the file store) is asked at a
 * steady rate and its p99 reported. json-server-auth 2.1.0 (bcryptjs cost
 * 10) logs in beside it. Each figure is the median of BENCH_ROUNDS rounds.
 *
 * The storm is many users logging in, each a few times: as many users are
 * registered before the timing starts as keep each one's logins (the bound's
 * rate over the warm-up and the run, spread round-robin) at LOGINS_PER_USER,
 * far below sessions.maxPerUser (100). A storm of one user would pass that
 * cap within a second, and then every login also ends that user's oldest
 * session, a cost a storm of many users does not pay: BENCH_LOGIN_STORM=one
 * runs that storm instead, labelled so, to show the cap's cost.
 *
 * Where a login's CPU goes is printed beside the rates, which a loaded machine
 * moves far more: the server's threads are told apart by their priority (the
 * hashing threads run at HASHING_NICE), and the bound's threads report their
 * own CPU per verification. With the cores saturated, the ratio is about the
 * bound's ms/verify ÷ the server's process ms/login, so what the hashing
 * threads spend beyond the bound and every ms besides the hash come out of it.
 * How often the hashing threads lose their core to another thread is printed
 * beside the bound's threads' own count: on a machine with no spare core,
 * every wake-up of the event loop or of a file-system thread takes a core from
 * a hash, which then runs on with caches the other thread evicted, so its CPU
 * per verification exceeds the bound's.
 *
 * Two costs the ratio carries that restauth's code does not choose are printed
 * too: the kernel's part of each verification (@node-rs/argon2's argon2-rust
 * maps a fresh 19 MiB for each, with huge pages asked for, and unmaps it after,
 * so the kernel zeroes it every time; no allocator setting keeps it, and the
 * bound pays the same; without transparent huge pages both pay about twice the
 * CPU, printed under the table), and the CPU of this process, the load generator, which
 * on this machine runs on the cores the hashes need while the bound's threads
 * have them to themselves.
 *
 * BENCH_BASELINE=<a checkout of restauth, its node_modules installed> logs in
 * beside this one, interleaved round by round, so a change shows as CPU and
 * wake-ups per login side by side with what it changed, in one run (a rate
 * from a loaded machine is no result; these counts move far less). On
 * PostgreSQL the database's own CPU per login is printed too: it runs on the
 * same cores as the hashes, and the bound has none. BENCH_LOGIN_ALGORITHMS
 * (argon2id,bcrypt) and BENCH_LOGIN_STORES (file,postgres) pick what runs;
 * json-server-auth runs beside bcrypt.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { HASHING_NICE } from '../src/core/hashing-pool.js';
import { hugePagesUnavailable } from '../src/core/huge-pages.js';
import { PasswordHasher, type PasswordAlgorithm } from '../src/core/passwords.js';
import { usableCores } from '../src/lib/usable-cores.js';
import { startOwnCluster, type OwnCluster } from '../test/support/postgres-cluster.js';
import { dropDatabase } from '../test/support/postgres.js';
import { freePort, load, startProcess, stopProcess, table } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 16;
/**
 * Logins the warm-up storm before the measured one aims at, and its bounds in seconds. V8 optimizes
 * code run once per login only after many logins: counted on one server (argon2id, file store,
 * 400 users, loaded 2-core VM, 5 s windows), the event loop's CPU per login fell from 1.46 ms over
 * the first 192 logins to 1.03–1.07 ms after 1,500, and V8's helper threads' (compiling; 2 minor GCs
 * in 6 s) from 0.3–0.46 to 0.08–0.13 ms. A 1 s warm-up measured mostly that warming server.
 */
const WARM_UP_LOGINS = 2_000;
const WARM_UP_SECONDS = { least: 1, most: 15 };
/** Requests a second each cheap route is asked during the storm: a steady trickle, not a second storm. */
const CHEAP_RATE = 20;
/** Logins each storm user gets, at most about (see stormUsers): a few, far below sessions.maxPerUser (100). */
const LOGINS_PER_USER = 20;
/** One user's storm (at sessions.maxPerUser within a second: each login also ends a session), or many users'. */
const STORM = listed<'many' | 'one'>('BENCH_LOGIN_STORM', ['many', 'one'])[0]!;
/**
 * V8 optimizes a function once it has run enough bytecode (its interrupt budget, 67,584 in Node 20's
 * V8), so code run once per login reaches optimized code only after many logins: at argon2id's
 * ~150 logins a second, a 1 s warm-up ends in baseline code (perf on the event loop's thread for
 * 5 s after a 2 s warm-up: 388 of 497 samples had a Sparkplug frame as their innermost JavaScript,
 * 12 an optimized one), which a server in a long storm has left behind: hence WARM_UP_LOGINS.
 * BENCH_LOGIN_TIER_UP=fast runs the servers with a 16× smaller budget (the same code, reached
 * sooner), and =both runs each restauth server both ways, interleaved, to compare in one run. With
 * the 1 s warm-up then in use, on a loaded 2-core VM (load average 14–16, 3 rounds), fast moved CPU
 * from the loop (1.56 → 1.30 ms/login) to other threads (besides hashing 2.03 → 2.67): not a default.
 */
const TIER_UP = listed<'default' | 'fast'>('BENCH_LOGIN_TIER_UP', ['default', 'fast'], ['both']);
const FAST_TIER_UP_FLAGS = ['--interrupt-budget=4096'];
/** json-server-auth runs once a round: with the fast tier-up only when restauth runs with nothing else. */
const PEER_FLAGS = TIER_UP.includes('default') ? [] : FAST_TIER_UP_FLAGS;
const PASSWORD = 'correct horse battery staple';
const repoRoot = join(import.meta.dirname, '..');
const ALGORITHMS = listed<PasswordAlgorithm>('BENCH_LOGIN_ALGORITHMS', ['argon2id', 'bcrypt']);
const STORES = listed<Store>('BENCH_LOGIN_STORES', ['file', 'postgres']);
const require = createRequire(import.meta.url);

type Store = 'file' | 'postgres';

/**
 * A comma-separated choice among `all` from the environment; when unset, all of them, or only the
 * first for a choice with a name for all (`everyName`, such as `both`).
 */
function listed<T extends string>(name: string, all: T[], everyName: string[] = []): T[] {
  const wanted = process.env[name]?.split(',').map((value) => value.trim());
  if (!wanted) return everyName.length > 0 ? [all[0]!] : all;
  if (wanted.some((value) => everyName.includes(value))) return all;
  const unknown = wanted.filter((value) => !all.includes(value as T));
  if (unknown.length > 0)
    throw new Error(`${name}: unknown ${unknown.join(', ')} (one of ${all.join(', ')})`);
  return all.filter((value) => wanted.includes(value));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function policy(algorithm: PasswordAlgorithm, concurrency: number) {
  return {
    algorithm,
    bcryptRounds: 10,
    rehashOnSignIn: false,
    minLength: 1,
    maxLength: 1024,
    passwordPattern: '.*',
    maxQueue: 0,
    concurrency,
  };
}

/** One verification alone, through restauth's hasher: the naive bound is cores ÷ this. */
async function oneVerifyMs(algorithm: PasswordAlgorithm, hash: string): Promise<number> {
  const hasher = new PasswordHasher(policy(algorithm, 1));
  const samples: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    await hasher.verify(PASSWORD, hash);
    samples.push(performance.now() - start);
  }
  return median(samples);
}

/**
 * The hash bound: one worker thread per core, each verifying `hash` in a loop
 * with the library restauth uses, for `seconds`; verifications a second. The
 * threads run at restauth's hashing priority (HASHING_NICE): alone on the
 * machine that changes nothing, and beside other work it keeps the bound what
 * restauth's own hashing threads could get.
 */
async function parallelVerifyRate(
  algorithm: PasswordAlgorithm,
  hash: string,
  seconds: number,
): Promise<{ rate: number; cpuMsPerVerify: number; kernelMsPerVerify: number; preemptedPerVerify: number }> {
  const library = require.resolve(algorithm === 'bcrypt' ? 'bcrypt' : '@node-rs/argon2');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    try {
      const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
      require('node:os').setPriority(tid, workerData.nice);
    } catch {}
    const library = require(workerData.library);
    // This thread's CPU ms, all and in the kernel (Linux); NaN elsewhere.
    const cpuMs = (kernelOnly) => {
      try {
        const stat = require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return ((kernelOnly ? 0 : Number(fields[11])) + Number(fields[12])) * 10;
      } catch {
        return NaN;
      }
    };
    const verify = workerData.algorithm === 'bcrypt'
      ? (password, hash) => library.compareSync(password, hash)
      : (password, hash) => library.verifySync(hash, password);
    const end = Date.now() + workerData.seconds * 1000;
    // Times this thread lost its core to another thread wanting it (Linux); NaN elsewhere.
    const preempted = () => {
      try {
        const status = require('node:fs').readFileSync('/proc/thread-self/status', 'utf8');
        return Number(/nonvoluntary_ctxt_switches:\\s+(\\d+)/.exec(status)[1]);
      } catch {
        return NaN;
      }
    };
    const startCpu = cpuMs(false);
    const startKernel = cpuMs(true);
    const startPreempted = preempted();
    let count = 0;
    while (Date.now() < end) {
      if (!verify(workerData.password, workerData.hash)) throw new Error('the bound verified a wrong hash');
      count++;
    }
    parentPort.postMessage({
      count,
      cpuMs: cpuMs(false) - startCpu,
      kernelMs: cpuMs(true) - startKernel,
      preempted: preempted() - startPreempted,
    });`;
  const threads = await Promise.all(
    Array.from(
      { length: usableCores() },
      () =>
        new Promise<{ count: number; cpuMs: number; kernelMs: number; preempted: number }>(
          (resolve, reject) => {
            const worker = new Worker(code, {
              eval: true,
              workerData: { library, algorithm, hash, password: PASSWORD, seconds, nice: HASHING_NICE },
            });
            worker.once('message', resolve);
            worker.once('error', reject);
          },
        ),
    ),
  );
  const count = threads.reduce((sum, thread) => sum + thread.count, 0);
  const cpuMs = threads.reduce((sum, thread) => sum + thread.cpuMs, 0);
  const kernelMs = threads.reduce((sum, thread) => sum + thread.kernelMs, 0);
  const preempted = threads.reduce((sum, thread) => sum + thread.preempted, 0);
  return {
    rate: count / seconds,
    cpuMsPerVerify: cpuMs / count,
    kernelMsPerVerify: kernelMs / count,
    preemptedPerVerify: preempted / count,
  };
}

/**
 * A thread's CPU seconds, its nice value (restauth's hashing threads run at HASHING_NICE), and how
 * often it gave up its core: waiting for something (wakes: each is a sleep and a wake-up), or
 * taken from it by another thread wanting that core (preempted).
 */
interface ThreadCpu {
  seconds: number;
  /** Of which in the kernel (system time). */
  kernelSeconds: number;
  nice: number;
  wakes: number;
  preempted: number;
}

/** CPU seconds each thread of a process has used (Linux), keyed by thread id. */
function threadCpu(pid: number): Map<number, ThreadCpu> {
  const ticksPerSecond = 100;
  const cpu = new Map<number, ThreadCpu>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // From the state (field 3) on: utime and stime are fields 14 and 15, nice 19.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      cpu.set(Number(tid), {
        seconds: (Number(fields[11]) + Number(fields[12])) / ticksPerSecond,
        kernelSeconds: Number(fields[12]) / ticksPerSecond,
        nice: Number(fields[16]),
        wakes: Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN),
        preempted: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN),
      });
    }
  } catch {
    // not Linux, or the process is gone: no CPU figures
  }
  return cpu;
}

/**
 * How long a thread has waited, runnable, for a core, and how many turns on one it has had (Linux's
 * schedstat, in ns); zeros elsewhere. Per turn, it says whether the event loop gets a core at once
 * when it wakes while the hashing threads hold both.
 */
function runQueueWait(pid: number, tid: number): { waitNs: number; turns: number } {
  try {
    const [, waitNs, turns] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ');
    return { waitNs: Number(waitNs), turns: Number(turns) };
  } catch {
    return { waitNs: 0, turns: 0 };
  }
}

/** A hashing thread's nice value; at nice 0 (no lower priority) every thread would look like one. */
function isHashingNice(nice: number): boolean {
  const hashingNice: number = HASHING_NICE;
  return hashingNice !== 0 && nice === hashingNice;
}

interface LoginRun {
  /** Users the storm logged in. */
  users: number;
  /** Logins the busiest storm user got over the warm-up and the run (every one, answered or not). */
  mostLoginsPerUser: number;
  rps: number;
  p99: number;
  /** Logins and cheap requests that failed (non-2xx, errors, timeouts). */
  loginFailures: number;
  cheapFailures: number;
  /** p99 of the cheap routes asked meanwhile, ms (the slower route's), and how many answers each route's is of. */
  cheapP99: number;
  cheapAnswered: number;
  /**
   * Server CPU per login, ms: the event loop's thread, the hashing threads (those at HASHING_NICE;
   * none in json-server-auth, which hashes on its loop), and the whole process.
   */
  loopMs: number;
  hashingMs: number;
  /** Of hashingMs, the kernel's part (a verification's fresh memory mapped, zeroed and unmapped). */
  hashingKernelMs: number;
  processMs: number;
  /**
   * CPU per login of this process, the load generator (the storm's and the cheap routes' clients):
   * on this machine it runs on the cores the hashes need, which the bound's threads have to themselves.
   */
  clientMs: number;
  /** The event loop's mean wait for a core each time it became runnable, µs. */
  loopWaitUs: number;
  /** Per login: the event loop's sleeps (each ended by a wake-up), and the hashing threads' preemptions. */
  loopWakes: number;
  hashingPreempted: number;
  /** CPU per login of the database's processes (PostgreSQL's backends and helpers), ms; NaN without one. */
  databaseMs: number;
}

/** A cheap route, and whether it is read with the user's access token (a data-API read by id). */
interface CheapRoute {
  url: string;
  withToken: boolean;
}

/**
 * A cheap request every 1/CHEAP_RATE s for `seconds`, paced by the clock (a slow answer does not hold
 * back the next request), each timed alone from its send to its answer's end: the route's latency
 * while logins hash. Not autocannon's overallRate, which this bench used before: autocannon 9 sends
 * each connection's share of a second back to back from the second's start, then waits for the next
 * second (lib/httpClient.js), so the route was asked in bursts; and it adds to its histogram
 * coordinated-omission samples at an expected interval of ceil(1/rate) = 1 ms (lib/run.js), values no
 * request took.
 */
async function cheapLatency(
  url: string,
  token: string | null,
  seconds: number,
): Promise<{ p99: number; failures: number; answered: number }> {
  const agent = new http.Agent({ keepAlive: true });
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const latencies: number[] = [];
  let failures = 0;
  const ask = () =>
    new Promise<void>((resolve) => {
      let settled = false;
      const settle = (latency: number | null) => {
        if (settled) return;
        settled = true;
        if (latency === null) failures++;
        else latencies.push(latency);
        resolve();
      };
      const sent = performance.now();
      const request = http.get(url, { agent, headers, timeout: 10_000 }, (response) => {
        response.resume();
        response.on('error', () => settle(null));
        response.on('end', () => {
          const ok =
            response.statusCode !== undefined && response.statusCode >= 200 && response.statusCode < 300;
          settle(ok ? performance.now() - sent : null);
        });
      });
      request.on('timeout', () => request.destroy(new Error('no answer within 10 s')));
      request.on('error', () => settle(null));
    });
  const asked: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; i < seconds * CHEAP_RATE; i++) {
    const wait = start + (i * 1000) / CHEAP_RATE - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    asked.push(ask());
  }
  await Promise.all(asked);
  agent.destroy();
  return { p99: nearestRank(latencies, 0.99), failures, answered: latencies.length };
}

/** Which slowest value of `count` the nearest-rank p99 is, in words (1st, 2nd, ...). */
function slowestRank(count: number): string {
  const rank = count - Math.max(0, Math.ceil(0.99 * count) - 1);
  return `${rank}${rank === 1 ? 'st' : rank === 2 ? 'nd' : rank === 3 ? 'rd' : 'th'}`;
}

/** The nearest-rank percentile `p` (0-1) of `values`; NaN for none. */
function nearestRank(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** CPU seconds of processes (all their threads), by pid (Linux); a pid gone is missing. */
function processCpu(pids: number[]): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const after = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
      cpu.set(pid, (Number(after[11]) + Number(after[12])) / 100);
    } catch {
      // ended meanwhile
    }
  }
  return cpu;
}

/**
 * Users the storm logs in, registered before it: enough that at `bound` logins a second (a
 * server logs in no faster) over the warm-up and the run, round-robin, each gets at most about
 * LOGINS_PER_USER; at least one per connection. One for a storm of one user.
 */
function stormUsers(bound: number): number {
  if (STORM === 'one') return 1;
  const logins = bound * (warmUpSeconds(bound) + SECONDS) + CONNECTIONS;
  return Math.max(CONNECTIONS, Math.ceil(logins / LOGINS_PER_USER));
}

/** The warm-up's length: WARM_UP_LOGINS at `bound` logins a second, within WARM_UP_SECONDS. */
function warmUpSeconds(bound: number): number {
  const wanted = Math.ceil(WARM_UP_LOGINS / bound);
  return Math.min(WARM_UP_SECONDS.most, Math.max(WARM_UP_SECONDS.least, wanted));
}

/** Who the storm logs in, and how long it warms up first (both from the machine's hash bound). */
interface StormPlan {
  users: number;
  warmUpSeconds: number;
}

function stormPlan(bound: number): StormPlan {
  return { users: stormUsers(bound), warmUpSeconds: warmUpSeconds(bound) };
}

async function restauthLogins(
  checkout: string,
  algorithm: PasswordAlgorithm,
  store: Store,
  postgres: OwnCluster | null,
  plan: StormPlan,
  /** Node's flags for the server (FAST_TIER_UP_FLAGS, or none). */
  flags: string[],
): Promise<LoginRun> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-'));
  const port = await freePort();
  let databaseUrl: string | null = null;
  if (store === 'postgres') {
    const name = `bench_login_${process.pid}_${Date.now()}`;
    databaseUrl = await createDatabase(postgres!.url, name);
  }
  await writeFile(
    join(dir, 'restauth.json'),
    JSON.stringify({
      port,
      jwt: { secret: 'bench-secret-bench-secret-bench-secret' },
      passwords: { algorithm, bcryptRounds: 10 },
      ...(databaseUrl ? { store: { type: 'postgres', url: databaseUrl } } : {}),
    }),
  );
  await writeFile(join(dir, 'db.json'), JSON.stringify({ posts: [{ id: 1, title: 'hello' }] }));
  const base = `http://127.0.0.1:${port}`;
  const server = await startProcess(
    process.execPath,
    [...flags, '--import', import.meta.resolve('tsx'), join(checkout, 'src/cli/main.ts'), 'serve'],
    {
      cwd: dir,
      env: { RESTAUTH_LOG_LEVEL: 'warn', RESTAUTH_RATE_LIMITS: 'off' },
      url: base,
      // A machine busy with other work starts a server slowly; that is not what is measured.
      startTimeoutMs: 90_000,
    },
  );
  try {
    const cheap: CheapRoute[] = [
      { url: `${base}/health`, withToken: false },
      // The data API serves db.json in file mode only (PostgREST reads PostgreSQL).
      ...(store === 'file' ? [{ url: `${base}/posts/1`, withToken: true }] : []),
    ];
    return await logInUnderLoad(
      server,
      `${base}/auth/register`,
      `${base}/auth/login`,
      { storm: (user) => ({ username: `storm-${user}` }), plan, reader: { username: 'reader' } },
      cheap,
      postgres && store === 'postgres' ? () => postgres.processes() : null,
    );
  } finally {
    await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
    if (databaseUrl) await dropDatabase(postgres!.url, databaseUrl);
  }
}

/**
 * Registers the storm's users and a reader, warms up, then logs the storm's users in, round-robin,
 * under load while the cheap routes are asked with the reader's token (the storm's own tokens may
 * be ended: a storm of one user passes sessions.maxPerUser within a second or two, and each
 * sign-in past it ends that user's oldest session, whose access token the data API then refuses).
 */
async function logInUnderLoad(
  server: ChildProcess,
  registerUrl: string,
  loginUrl: string,
  identities: {
    storm: (user: number) => Record<string, string>;
    plan: StormPlan;
    reader: Record<string, string>;
  },
  cheap: CheapRoute[],
  databaseProcesses: (() => Promise<number[]>) | null = null,
): Promise<LoginRun> {
  // Registered as many at a time as the storm has connections: each costs a hash, and a bcrypt
  // storm's users would otherwise take as long again as the storm.
  for (let first = 0; first < identities.plan.users; first += CONNECTIONS) {
    const batch = Array.from(
      { length: Math.min(CONNECTIONS, identities.plan.users - first) },
      (_, i) => first + i,
    );
    await Promise.all(
      batch.map((user) => post(registerUrl, { ...identities.storm(user), password: PASSWORD })),
    );
  }
  const reader = await post(registerUrl, { ...identities.reader, password: PASSWORD });
  const token = String(reader.access_token ?? reader.accessToken);
  let next = 0;
  const nextBody = () => ({ ...identities.storm(next++ % identities.plan.users), password: PASSWORD });
  // Compiles the code paths (JIT, schemas) and has V8 optimize them: start-up work, not what is measured.
  const warmUp = identities.plan.warmUpSeconds;
  await load({ url: loginUrl, method: 'POST', nextBody, connections: CONNECTIONS, seconds: warmUp });
  // The warm-up's last logins are still queued or hashing (its client stopped waiting, the server did
  // not), and their work would count against the logins measured. As many logins again queue behind
  // them, first in first out, and reach every hashing thread after its earlier jobs: once all are
  // answered, the measured window starts with nothing left over.
  await Promise.all(Array.from({ length: CONNECTIONS }, () => post(loginUrl, nextBody())));
  const databaseBefore = processCpu((await databaseProcesses?.()) ?? []);
  const before = threadCpu(server.pid!);
  const waitBefore = runQueueWait(server.pid!, server.pid!);
  const clientBefore = process.cpuUsage();
  const [logins, ...cheapRuns] = await Promise.all([
    load({ url: loginUrl, method: 'POST', nextBody, connections: CONNECTIONS, seconds: SECONDS }),
    ...cheap.map((route) => cheapLatency(route.url, route.withToken ? token : null, SECONDS)),
  ]);
  const client = process.cpuUsage(clientBefore);
  const after = threadCpu(server.pid!);
  const waitAfter = runQueueWait(server.pid!, server.pid!);
  // A backend started during the run counts from nothing.
  const databaseAfter = processCpu((await databaseProcesses?.()) ?? []);
  const databaseSeconds = databaseProcesses
    ? [...databaseAfter].reduce((sum, [pid, seconds]) => sum + seconds - (databaseBefore.get(pid) ?? 0), 0)
    : Number.NaN;
  // No login answered within the run (a machine too busy): no per-login CPU figure.
  const count = logins.requestsPerSecond * SECONDS || Number.NaN;
  const used = (tid: number, field: 'seconds' | 'kernelSeconds' = 'seconds') =>
    (after.get(tid)?.[field] ?? 0) - (before.get(tid)?.[field] ?? 0);
  const counted = (tid: number, field: 'wakes' | 'preempted') =>
    (after.get(tid)?.[field] ?? 0) - (before.get(tid)?.[field] ?? 0);
  const processSeconds = [...after.keys()].reduce((sum, tid) => sum + used(tid), 0);
  const hashingThreads = [...after]
    .filter(([tid, thread]) => tid !== server.pid && isHashingNice(thread.nice))
    .map(([tid]) => tid);
  const hashingSeconds = hashingThreads.reduce((sum, tid) => sum + used(tid), 0);
  const hashingKernelSeconds = hashingThreads.reduce((sum, tid) => sum + used(tid, 'kernelSeconds'), 0);
  return {
    users: identities.plan.users,
    mostLoginsPerUser: Math.ceil(next / identities.plan.users),
    rps: logins.requestsPerSecond,
    p99: logins.p99Ms,
    loginFailures: logins.non2xx + logins.errors,
    cheapFailures: cheapRuns.reduce((sum, run) => sum + run.failures, 0),
    cheapP99: Math.max(...cheapRuns.map((run) => run.p99)),
    cheapAnswered: Math.min(...cheapRuns.map((run) => run.answered)),
    loopMs: (used(server.pid!) * 1000) / count,
    hashingMs: (hashingSeconds * 1000) / count,
    hashingKernelMs: (hashingKernelSeconds * 1000) / count,
    processMs: (processSeconds * 1000) / count,
    clientMs: (client.user + client.system) / 1000 / count,
    loopWaitUs: (waitAfter.waitNs - waitBefore.waitNs) / 1000 / (waitAfter.turns - waitBefore.turns),
    loopWakes: counted(server.pid!, 'wakes') / count,
    hashingPreempted: hashingThreads.reduce((sum, tid) => sum + counted(tid, 'preempted'), 0) / count,
    databaseMs: (databaseSeconds * 1000) / count,
  };
}

async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function jsonServerAuthLogins(plan: StormPlan): Promise<LoginRun> {
  const dir = await mkdtemp(join(tmpdir(), 'jsa-bench-'));
  const port = await freePort();
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [{ id: 1, title: 'hello' }] }));
  const base = `http://127.0.0.1:${port}`;
  const bin = join(repoRoot, 'node_modules/json-server-auth/dist/bin.js');
  const server = await startProcess(
    process.execPath,
    [...PEER_FLAGS, bin, 'db.json', '--port', String(port), '--quiet'],
    {
      cwd: dir,
      url: base,
      startTimeoutMs: 90_000,
    },
  );
  try {
    return await logInUnderLoad(
      server,
      `${base}/register`,
      `${base}/login`,
      {
        storm: (user) => ({ email: `storm-${user}@example.com` }),
        plan,
        reader: { email: 'reader@example.com' },
      },
      [{ url: `${base}/posts/1`, withToken: true }],
    );
  } finally {
    await stopProcess(server);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runLoginBench(): Promise<void> {
  const cores = usableCores();
  console.log(
    `\n## Login throughput (${cores} cores, ${CONNECTIONS} connections, ${SECONDS} s each, ` +
      `medians of ${ROUNDS} interleaved rounds; cheap routes asked ${CHEAP_RATE}/s each meanwhile, evenly spaced)\n`,
  );
  console.log(
    STORM === 'one'
      ? 'storm: ONE user logging in from every connection (BENCH_LOGIN_STORM=one): past sessions.maxPerUser ' +
          "(100) within a second, so each login also ends that user's oldest session\n"
      : `storm: many users, round-robin, registered before the timing (enough that each gets about ` +
          `${LOGINS_PER_USER} logins at the bound's rate, far below sessions.maxPerUser; most per user below)`,
  );
  console.log(
    `warm-up before each timing: ${WARM_UP_LOGINS.toLocaleString('en')} logins at the bound's rate, within ` +
      `${WARM_UP_SECONDS.least}–${WARM_UP_SECONDS.most} s (V8 optimizes the login path meanwhile)`,
  );
  console.log(
    TIER_UP.includes('fast')
      ? `rows marked "fast tier-up": servers run with ${FAST_TIER_UP_FLAGS.join(' ')} (BENCH_LOGIN_TIER_UP), ` +
          'so V8 optimizes the login path within the warm-up\n'
      : '',
  );
  // PostgreSQL as restauth's tests run it (fsync off: the bench measures restauth, not this disk).
  const postgres = !STORES.includes('postgres')
    ? null
    : await startOwnCluster({ maxConnections: 50 }).catch((error: unknown) => {
        console.log(`(no PostgreSQL figures: ${(error as Error).message})`);
        return null;
      });
  const stores = STORES.filter((store) => store === 'file' || postgres);
  const baseline = process.env.BENCH_BASELINE;
  const checkouts: Array<[string, string]> = [['restauth', repoRoot]];
  if (baseline) checkouts.push([`baseline (${baseline})`, baseline]);
  // Each checkout run as V8 starts it, with its login path optimized sooner, or both, interleaved.
  const servers = checkouts.flatMap(([name, checkout]) =>
    TIER_UP.map((tierUp): [string, string, string[]] =>
      tierUp === 'fast' ? [`${name} (fast tier-up)`, checkout, FAST_TIER_UP_FLAGS] : [name, checkout, []],
    ),
  );
  /** A round's login run beside the bound measured just before it: verifications a second, CPU ms each. */
  type Sample = {
    bound: number;
    boundMs: number;
    boundKernelMs: number;
    boundPreempted: number;
    run: LoginRun;
  };
  const samples = new Map<string, Sample[]>();
  const naive = new Map<PasswordAlgorithm, number>();
  const peer: Sample[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const algorithm of ALGORITHMS) {
        const hash = await new PasswordHasher(policy(algorithm, 1)).hash(PASSWORD);
        if (round === 0) naive.set(algorithm, (cores * 1000) / (await oneVerifyMs(algorithm, hash)));
        const measured = await parallelVerifyRate(algorithm, hash, SECONDS);
        const {
          rate: bound,
          cpuMsPerVerify: boundMs,
          kernelMsPerVerify: boundKernelMs,
          preemptedPerVerify: boundPreempted,
        } = measured;
        // The faster of the two bounds: one measured on a busy machine may be below the storm's rate.
        const plan = stormPlan(Math.max(bound, naive.get(algorithm)!));
        for (const store of stores) {
          for (const [name, checkout, flags] of servers) {
            const key = `${algorithm}\0${store}\0${name}`;
            const run = await restauthLogins(checkout, algorithm, store, postgres, plan, flags);
            const sample = { bound, boundMs, boundKernelMs, boundPreempted, run };
            samples.set(key, [...(samples.get(key) ?? []), sample]);
          }
        }
        if (algorithm === 'bcrypt')
          peer.push({
            bound,
            boundMs,
            boundKernelMs,
            boundPreempted,
            run: await jsonServerAuthLogins(plan),
          });
      }
    }
  } finally {
    await postgres?.destroy();
  }
  const total = (runs: Sample[], field: 'loginFailures' | 'cheapFailures') =>
    runs.reduce((sum, s) => sum + s.run[field], 0);
  const row = (server: string, algorithm: PasswordAlgorithm, runs: Sample[]) => ({
    server,
    'cores ÷ one verify': naive.get(algorithm)!.toFixed(1),
    'hash bound/s': median(runs.map((s) => s.bound)).toFixed(1),
    'logins/s': median(runs.map((s) => s.run.rps)).toFixed(1),
    'ratio to bound': median(runs.map((s) => s.run.rps / s.bound)).toFixed(2),
    'login p99 ms': median(runs.map((s) => s.run.p99)),
    'cheap p99 ms': median(runs.map((s) => s.run.cheapP99)).toFixed(1),
    'cheap answers/run': median(runs.map((s) => s.run.cheapAnswered)),
    'loop ms/login': median(runs.map((s) => s.run.loopMs)).toFixed(2),
    'loop wait/turn µs': median(runs.map((s) => s.run.loopWaitUs)).toFixed(0),
    'loop wakes/login': median(runs.map((s) => s.run.loopWakes)).toFixed(1),
    'hashing ms/login': median(runs.map((s) => s.run.hashingMs)).toFixed(2),
    'bound ms/verify': median(runs.map((s) => s.boundMs)).toFixed(2),
    'hashing kernel ms/login': median(runs.map((s) => s.run.hashingKernelMs)).toFixed(2),
    'bound kernel ms/verify': median(runs.map((s) => s.boundKernelMs)).toFixed(2),
    'hashing preempted/login': median(runs.map((s) => s.run.hashingPreempted)).toFixed(1),
    'bound preempted/verify': median(runs.map((s) => s.boundPreempted)).toFixed(1),
    'besides hashing ms/login': median(runs.map((s) => s.run.processMs - s.run.hashingMs)).toFixed(2),
    'process ms/login': median(runs.map((s) => s.run.processMs)).toFixed(1),
    'client ms/login': median(runs.map((s) => s.run.clientMs)).toFixed(2),
    'database ms/login': median(runs.map((s) => s.run.databaseMs)).toFixed(2),
    'storm users': median(runs.map((s) => s.run.users)),
    'most logins/user': Math.max(...runs.map((s) => s.run.mostLoginsPerUser)),
    'failures login/cheap': `${total(runs, 'loginFailures')}/${total(runs, 'cheapFailures')}`,
  });
  const rows = [...samples].map(([key, runs]) => {
    const [algorithm, store, checkout] = key.split('\0') as [PasswordAlgorithm, Store, string];
    const name = algorithm === 'bcrypt' ? 'bcrypt cost 10' : 'argon2id';
    return row(`${checkout}, ${name}, ${store === 'file' ? 'file store' : 'PostgreSQL'}`, algorithm, runs);
  });
  const peerName = `json-server-auth 2.1.0 (bcryptjs cost 10)${PEER_FLAGS.length > 0 ? ' (fast tier-up)' : ''}`;
  if (peer.length > 0) rows.push(row(peerName, 'bcrypt', peer));
  console.log(table(rows));
  // Beside json-server-auth, the restauth run started as json-server-auth was (PEER_FLAGS).
  const restauthBcrypt = samples.get(`bcrypt\0file\0${servers[0]![0]}`);
  if (restauthBcrypt && peer.length > 0) {
    const ratio = median(restauthBcrypt.map((s) => s.run.rps)) / median(peer.map((s) => s.run.rps));
    console.log(`\nrestauth (bcrypt 10, file store) ÷ json-server-auth: ${ratio.toFixed(2)}×`);
  }
  console.log(
    'hash bound: one worker thread per core verifying in a loop, no HTTP; cheap p99: the slower of ' +
      `/health and GET /posts/1 (file store), each request timed alone (of ${CHEAP_RATE * SECONDS} a run, the p99 is ` +
      `the ${slowestRank(CHEAP_RATE * SECONDS)} slowest: a tail, not a typical answer); ` +
      'loop ms/login: CPU of the server thread running the event loop; ' +
      "hashing ms/login: of its threads at the hashing priority, beside bound ms/verify (the bound threads' " +
      'CPU per verification); with the cores saturated the ratio is about bound ms/verify ÷ process ms/login; ' +
      'loop wait/turn: how long the event loop waited for a core, on average, each time it woke (schedstat); ' +
      'loop wakes/login: its sleeps ended by a wake-up (a socket, a hash answered, a file operation done); ' +
      'hashing preempted/login: times its hashing threads lost their core to another thread, beside the ' +
      "bound's per verification (each costs the hash the caches the other thread evicted); database " +
      "ms/login: CPU of PostgreSQL's processes (on the same cores as the hashes); kernel ms: the " +
      "kernel's part of a verification (argon2id maps, zeroes and unmaps its 19 MiB for each); client " +
      "ms/login: this process's CPU, the load generator's, on the same cores as the hashes (the bound has none)",
  );
  // The bound's threads run in this process and the servers inherit its environment: both alike.
  console.log(
    `transparent huge pages: ${hugePagesUnavailable() ?? 'at hand (argon2id verifications get them)'}`,
  );
  console.log(
    `load average at the end: ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await runLoginBench();
