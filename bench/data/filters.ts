/**
 * Filtered lists beside json-server 0.17.4 at 10,000 and 100,000 posts: an
 * equality filter matching one record, one matching many, a range, `_like`
 * and `q`. Both servers run at once on copies of one db.json; each round
 * measures every query on both, in alternating order, and the table shows
 * medians of the rounds and their ratios: of requests per second, and of
 * each server's CPU time per request (from /proc, steadier than a rate on a
 * machine other work shares: a busy machine queues requests, it does not
 * make them cost more CPU). The load average is printed beside the figures.
 *
 * BENCH_FILTER_SIZES (default 10000,100000), BENCH_ROUNDS (3), BENCH_SECONDS (3).
 * BENCH_BASELINE=<a checkout of an older restauth> runs it beside them (before/after a change).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, freePort, load, startProcess, stopProcess, table } from '../support.js';
import { postsDocument } from './posts.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 10;
const repoRoot = join(import.meta.dirname, '../..');

function queries(size: number): Array<{ name: string; path: string }> {
  return [
    { name: 'equality, one record', path: `/posts?title=${encodeURIComponent(`Post number ${size / 2}`)}` },
    { name: 'equality, 1 % (author7)', path: '/posts?author=author7' },
    { name: 'equality + page', path: '/posts?author=typicode&_page=3&_limit=20' },
    { name: 'two filters (run.ts)', path: '/posts?author=typicode&views_gte=100' },
    { name: 'range, 1 %', path: '/posts?views_gte=990' },
    { name: '_like', path: `/posts?title_like=${encodeURIComponent('number 777')}` },
    { name: 'q', path: `/posts?q=${encodeURIComponent('number 777')}` },
  ];
}

interface Server {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(name: string, dir: string, checkout: string | null): Promise<Server> {
  const port = await freePort();
  let args: string[];
  let env: NodeJS.ProcessEnv = {};
  if (checkout !== null) {
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        port,
        rules: { posts: 777 },
        auth: { jwtSecret: 'bench-secret-0123456789abcdef-0123456789abcdef' },
      }),
    );
    args = ['--import', import.meta.resolve('tsx'), join(checkout, 'src/cli/main.ts'), 'serve'];
    // Request logs off, as json-server runs --quiet.
    env = { RESTAUTH_LOG_LEVEL: 'warn' };
  } else {
    args = [
      join(repoRoot, 'node_modules/json-server/lib/cli/bin.js'),
      'db.json',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--quiet',
    ];
  }
  const child = await startProcess(process.execPath, args, {
    cwd: dir,
    env,
    url: `http://127.0.0.1:${port}/posts/1`,
    startTimeoutMs: 60_000,
  });
  return { name, port, pid: child.pid!, stop: () => stopProcess(child) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function runFilterBench(): Promise<void> {
  const sizes = (process.env.BENCH_FILTER_SIZES ?? '10000,100000').split(',').map(Number);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  for (const size of sizes) {
    console.log(
      `\n## Filtered lists, ${size.toLocaleString('en')} posts: restauth beside json-server 0.17.4 ` +
        `(${cpus().length} × ${cpu}; ${ROUNDS} interleaved rounds of ${SECONDS} s, ${CONNECTIONS} connections, medians; ` +
        `load average before: ${loadavg()
          .map((l) => l.toFixed(1))
          .join(', ')})\n`,
    );
    const dirs: string[] = [];
    const servers: Server[] = [];
    try {
      const baseline = process.env.BENCH_BASELINE;
      const contenders: Array<[string, string | null]> = [
        ['restauth', repoRoot],
        ['json-server 0.17.4', null],
        ...(baseline ? [['restauth (baseline)', baseline] as [string, string]] : []),
      ];
      for (const [name, checkout] of contenders) {
        const dir = await mkdtemp(join(tmpdir(), 'restauth-filter-bench-'));
        dirs.push(dir);
        await writeFile(join(dir, 'db.json'), postsDocument(size));
        servers.push(await startServer(name, dir, checkout));
      }
      const list = queries(size);
      const rates = new Map<string, number[]>();
      const p99s = new Map<string, number[]>();
      const cpuPerRequest = new Map<string, number[]>();
      const failures = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const query of list) {
          // Alternate who goes first: a busy moment of the shared machine falls on both alike.
          const order = round % 2 === 0 ? servers : [...servers].reverse();
          for (const server of order) {
            const key = `${server.name}\u0000${query.name}`;
            const cpuBefore = await cpuSeconds(server.pid);
            const result = await load({
              url: `http://127.0.0.1:${server.port}${query.path}`,
              connections: CONNECTIONS,
              seconds: SECONDS,
            });
            const cpu = (await cpuSeconds(server.pid)) - cpuBefore;
            rates.set(key, [...(rates.get(key) ?? []), result.requestsPerSecond]);
            cpuPerRequest.set(key, [
              ...(cpuPerRequest.get(key) ?? []),
              (cpu * 1e6) / Math.max(result.requests, 1),
            ]);
            p99s.set(key, [...(p99s.get(key) ?? []), result.p99Ms]);
            failures.set(key, (failures.get(key) ?? 0) + result.errors + result.non2xx);
          }
        }
      }
      const rows = list.map((query) => {
        const row: Record<string, string | number> = { query: query.name };
        const medians = servers.map((server) => median(rates.get(`${server.name}\u0000${query.name}`)!));
        const cpuMedians = servers.map((server) =>
          median(cpuPerRequest.get(`${server.name}\u0000${query.name}`)!),
        );
        servers.forEach((server, i) => {
          const key = `${server.name}\u0000${query.name}`;
          row[`${server.name} req/s`] = medians[i]!.toFixed(0);
          row[`${server.name} µs CPU/req`] = cpuMedians[i]!.toFixed(0);
          row[`${server.name} p99 ms`] = median(p99s.get(key)!);
          if (failures.get(key)! > 0) row[`${server.name} failures`] = failures.get(key)!;
        });
        row['× json-server'] = (medians[0]! / medians[1]!).toFixed(1);
        // How many of restauth's requests cost the CPU of one of json-server's.
        row['× json-server (CPU)'] = (cpuMedians[1]! / cpuMedians[0]!).toFixed(1);
        if (medians[2] !== undefined) {
          row['× baseline'] = (medians[0]! / medians[2]).toFixed(1);
          row['× baseline (CPU)'] = (cpuMedians[2]! / cpuMedians[0]!).toFixed(1);
        }
        return row;
      });
      console.log(table(rows));
      console.log(
        `\nload average after: ${loadavg()
          .map((l) => l.toFixed(1))
          .join(', ')}`,
      );
    } finally {
      for (const server of servers) await server.stop();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runFilterBench();
