/**
 * The heaviest reads one request may ask for. The attack of issue 10 (finding 10): `GET /posts` with
 * `_embed=comments` repeated 400 times over 1,000 posts and 1,000 comments
 * (it took 17 s and stalled the server), beside the same list with one
 * `_embed` and with none. In-process (app.inject), on the real app and files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServices } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { buildApp } from '../../src/http/app.js';
import { table } from '../support.js';

const ROWS = 1_000;
const ROUNDS = 5;

export async function runEmbedBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-embed-'));
  try {
    await writeFile(
      join(dir, 'db.json'),
      JSON.stringify({
        users: [],
        posts: Array.from({ length: ROWS }, (_, i) => ({ id: i + 1, title: `post ${i + 1}` })),
        comments: Array.from({ length: ROWS }, (_, i) => ({ id: i + 1, postId: (i % ROWS) + 1, body: 'hi' })),
      }),
    );
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        rules: { posts: 444, comments: 444 },
        auth: { jwtSecret: 'bench-embed-secret-0123456789abcdef-0123456789' },
      }),
    );
    const config = await loadConfig({ cwd: dir, env: { RESTAUTH_LOG_LEVEL: 'silent' } });
    const services = await createServices(config, { info() {}, warn() {} });
    const app = await buildApp(services);
    await app.ready();
    const urls = {
      'no _embed': '/posts',
      '_embed=comments once': '/posts?_embed=comments',
      '_embed=comments ×400': `/posts?${Array.from({ length: 400 }, () => '_embed=comments').join('&')}`,
      // The largest filter and sort one request may ask for (16 values, 4 fields).
      'title_like ×16 (RE2)': `/posts?${Array.from({ length: 16 }, (_, i) => `title_like=(z|y)${i}*`).join('&')}`,
      '_sort with 4 fields': '/posts?_sort=title,id,title,id',
    };
    const rows: Array<Record<string, string>> = [];
    for (const [label, url] of Object.entries(urls)) {
      const times: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const started = performance.now();
        const res = await app.inject({ url });
        times.push(performance.now() - started);
        if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
      times.sort((a, b) => a - b);
      rows.push({
        request: label,
        'median ms': times[Math.floor(ROUNDS / 2)]!.toFixed(1),
        'range ms': `${times[0]!.toFixed(1)}–${times.at(-1)!.toFixed(1)}`,
      });
    }
    console.log(`\nheaviest reads over ${ROWS} posts × ${ROWS} comments (${ROUNDS} rounds, in-process)`);
    console.log(table(rows));
    await app.close();
    await services.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
