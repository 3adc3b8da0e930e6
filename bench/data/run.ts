/**
 * The data API side by side with json-server 0.17.4 and json-server-auth
 * 2.1.0, on copies of the same db.json (1,000 and 10,000 posts): a full list,
 * a page, one record, a filtered list, POST and PATCH. restauth's writes are
 * fsynced before they are answered; json-server's are not.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, load, startProcess, stopProcess, table } from '../support.js';
import { postsDocument } from './posts.js';
import { runFilterBench } from './filters.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = 10;
const WRITE_CONNECTIONS = Number(process.env.BENCH_WRITE_CONNECTIONS ?? 50);
const repoRoot = join(import.meta.dirname, '../..');

interface Target {
  name: string;
  start(dir: string, port: number): Promise<() => Promise<void>>;
  headers?: Record<string, string>;
}

async function spawnServer(dir: string, port: number, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = await startProcess(process.execPath, args, {
    cwd: dir,
    env,
    url: `http://127.0.0.1:${port}/posts/1`,
  });
  return () => stopProcess(child);
}

const targets: Target[] = [
  {
    name: 'restauth',
    start: async (dir, port) => {
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({
          port,
          rules: { posts: 777 },
          auth: { jwtSecret: 'bench-secret-0123456789abcdef-0123456789abcdef' },
        }),
      );
      // Request logs off, as json-server runs --quiet.
      return spawnServer(
        dir,
        port,
        ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src/cli/main.ts'), 'serve'],
        { RESTAUTH_LOG_LEVEL: 'warn' },
      );
    },
  },
  {
    name: 'json-server 0.17.4',
    start: (dir, port) =>
      spawnServer(dir, port, [
        join(repoRoot, 'node_modules/json-server/lib/cli/bin.js'),
        'db.json',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--quiet',
      ]),
  },
  {
    name: 'json-server-auth 2.1.0',
    start: (dir, port) =>
      spawnServer(dir, port, [
        join(repoRoot, 'node_modules/json-server-auth/dist/bin.js'),
        'db.json',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--quiet',
      ]),
  },
];

/**
 * Reads at 10 connections (autocannon's default). Writes twice: at 10, and at
 * 50 connections, where group commit shows (one fsynced commit carries every
 * write that arrived while the previous one was on its way to disk);
 * json-server writes one request at a time whatever the concurrency.
 */
const operations: Array<{
  name: string;
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: unknown;
  connections: number;
}> = [
  { name: 'full list', method: 'GET', path: '/posts', connections: CONNECTIONS },
  { name: 'a page', method: 'GET', path: '/posts?_page=7&_limit=20', connections: CONNECTIONS },
  { name: 'one record', method: 'GET', path: '/posts/500', connections: CONNECTIONS },
  {
    name: 'filtered list',
    method: 'GET',
    path: '/posts?author=typicode&views_gte=100',
    connections: CONNECTIONS,
  },
  ...[CONNECTIONS, WRITE_CONNECTIONS].flatMap((connections) => [
    {
      name: `POST (${connections} conn.)`,
      method: 'POST' as const,
      path: '/posts',
      body: { title: 'new', author: 'bench', views: 1 },
      connections,
    },
    {
      name: `PATCH (${connections} conn.)`,
      method: 'PATCH' as const,
      path: '/posts/500',
      body: { views: 42 },
      connections,
    },
  ]),
];

export async function runDataBench(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
  for (const size of sizes) {
    console.log(
      `\n## Data API, ${size.toLocaleString('en')} posts (${SECONDS} s each; reads at ${CONNECTIONS} connections)\n`,
    );
    const results = new Map<string, Map<string, { rps: number; p99: number; failures: number }>>();
    for (const target of targets) {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-data-bench-'));
      await writeFile(join(dir, 'db.json'), postsDocument(size));
      const port = await freePort();
      const stop = await target.start(dir, port);
      const byOperation = new Map<string, { rps: number; p99: number; failures: number }>();
      try {
        for (const operation of operations) {
          const result = await load({
            url: `http://127.0.0.1:${port}${operation.path}`,
            method: operation.method,
            body: operation.body,
            connections: operation.connections,
            seconds: SECONDS,
          });
          byOperation.set(operation.name, {
            rps: result.requestsPerSecond,
            p99: result.p99Ms,
            failures: result.non2xx + result.errors,
          });
        }
      } finally {
        await stop();
        await rm(dir, { recursive: true, force: true });
      }
      results.set(target.name, byOperation);
    }
    const rows = operations.map((operation) => {
      const ours = results.get('restauth')!.get(operation.name)!;
      const row: Record<string, string | number> = { operation: operation.name };
      for (const target of targets) {
        const r = results.get(target.name)!.get(operation.name)!;
        row[`${target.name} req/s`] = r.rps.toFixed(0);
        row[`${target.name} p99 ms`] = r.p99;
        if (r.failures > 0) row[`${target.name} failures`] = r.failures;
      }
      const js = results.get('json-server 0.17.4')!.get(operation.name)!;
      const jsa = results.get('json-server-auth 2.1.0')!.get(operation.name)!;
      row['× json-server'] = (ours.rps / js.rps).toFixed(1);
      row['× json-server-auth'] = (ours.rps / jsa.rps).toFixed(1);
      return row;
    });
    console.log(table(rows));
  }
  // Filtered lists at 10,000 and 100,000 posts, interleaved rounds beside json-server.
  await runFilterBench();
}

if (import.meta.url === `file://${process.argv[1]}`) await runDataBench();
