import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnRestauth, spawnTsScript } from '../support/process.js';

/**
 * Request lines on standard output are written in batches (request-line-batches.ts): the
 * lines still in the buffer when the process ends must come out, whether it stops, exits, crashes on an
 * uncaught exception or on an unhandled rejection. Tried in real processes writing to a real pipe.
 */
const logging = join(import.meta.dirname, '../../src/http/logging.ts');

async function run(mode: string): Promise<{ code: number | null; lines: string[] }> {
  const child = spawnTsScript(
    `import { createLogger, requestLineLogger } from ${JSON.stringify(logging)};
    const log = createLogger({ level: 'info', format: 'json' });
    const lines = requestLineLogger(log);
    // Five short lines: far under the batch's 4 KB, so only the exit can write them.
    for (let i = 1; i <= 5; i++) lines.info({ reqId: 'req-' + i, status: 200 }, 'GET /line/' + i + ' 200 1ms');
    const mode = process.argv[1];
    if (mode === 'exit') process.exit(0);
    if (mode === 'throw') setImmediate(() => { throw new Error('a fault'); });
    if (mode === 'reject') void Promise.reject(new Error('a fault'));`,
    [mode],
    'pipe',
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, lines: output.split('\n').filter((line) => line !== '') };
}

describe('request lines written in batches', () => {
  for (const [mode, expectedCode] of [
    ['return', 0],
    ['exit', 0],
    ['throw', 1],
    ['reject', 1],
  ] as const) {
    it(`are all written when the process ends (${mode})`, async () => {
      const { code, lines } = await run(mode);
      assert.equal(code, expectedCode);
      assert.deepEqual(
        lines.map((line) => (JSON.parse(line) as { msg: string }).msg),
        [1, 2, 3, 4, 5].map((i) => `GET /line/${i} 200 1ms`),
      );
    });
  }

  describe('restauth serve', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-log-flush-'));
      await writeFile(join(dir, 'db.json'), JSON.stringify({ posts: [{ id: 1, title: 'a' }] }));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('writes the last request lines before a stop (SIGTERM)', async () => {
      const server = await spawnRestauth(dir, ['db.json']);
      try {
        // Answered 401 (the default rule wants a token): a request line all the same.
        for (let i = 1; i <= 3; i++) await (await fetch(`${server.url}/posts/1?n=${i}`)).text();
      } finally {
        assert.equal(await server.stop(), 0);
      }
      const lines = server
        .output()
        .split('\n')
        .filter((line) => line.includes('"method":"GET"'));
      assert.equal(lines.length, 3, server.output());
      for (const line of lines) assert.equal((JSON.parse(line) as { path: string }).path, '/posts/1');
    });
  });
});
