import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { formatOf, jsonServerLine } from '../../src/http/logging.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/** json-server's terminal: its request lines and the resource list at start; JSON when not a terminal. */
describe('json-server style logs', () => {
  it('auto: json-server lines for a config.json on a terminal, pretty for others, JSON off a terminal', () => {
    assert.equal(formatOf({ level: 'info', format: 'auto', jsonServerStyle: true }, true), 'json-server');
    assert.equal(formatOf({ level: 'info', format: 'auto', jsonServerStyle: false }, true), 'pretty');
    assert.equal(formatOf({ level: 'info', format: 'auto', jsonServerStyle: true }, false), 'json');
    assert.equal(formatOf({ level: 'info', format: 'json-server' }, false), 'json-server');
  });

  it("a request line is morgan's dev line; a message stays a message", () => {
    const request = {
      method: 'GET',
      path: '/posts',
      status: 200,
      ms: 14.8,
      bytes: 245,
      msg: 'GET /posts 200 14.8ms',
    };
    assert.equal(jsonServerLine(request), 'GET /posts 200 14.8 ms - 245');
    assert.equal(jsonServerLine({ ...request, bytes: undefined }), 'GET /posts 200 14.8 ms - -');
    assert.equal(
      jsonServerLine({ msg: 'mail queue unavailable', err: { message: 'EACCES' } }),
      'mail queue unavailable: EACCES',
    );
  });

  // A guard against a line that never comes (the waits are on the output, not on time).
  describe('the real server', { timeout: 300_000 }, () => {
    let dir: string | undefined;
    let running: RestauthProcess | undefined;
    afterEach(async () => {
      await running?.stop();
      running = undefined;
      if (dir) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    });

    /** Resolves once the process has written a line matching `pattern` (its output comes after 'exit' too). */
    let written: Array<{ pattern: RegExp; resolve: () => void }> = [];
    const start = async (args: string[]) => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-jslogs-'));
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({ rules: { posts: 644 }, routes: { '/api/*': '/$1' } }),
      );
      await writeFile(join(dir, 'db.json'), JSON.stringify({ posts: [{ id: 1 }], profile: {}, users: [] }));
      written = [];
      running = await spawnRestauth(
        dir,
        args,
        { RESTAUTH_JWT_SECRET: 'json-server-logs-secret-0123456789abcdef' },
        (output) => {
          written = written.filter(({ pattern, resolve }) =>
            pattern.test(output) ? (resolve(), false) : true,
          );
        },
      );
      return running;
    };
    const untilWritten = (pattern: RegExp): Promise<void> =>
      pattern.test(running!.output())
        ? Promise.resolve()
        : new Promise((resolve) => written.push({ pattern, resolve }));

    it('--log-format json-server: the resources, routes and home at start, then one line per request', async () => {
      const server = await start(['--log-format', 'json-server']);
      const answer = await fetch(`${server.url}/posts?title_like=secret-query`);
      assert.equal(answer.status, 200);
      const length = (await answer.text()).length;
      await untilWritten(new RegExp(`^GET /posts 200 [\\d.]+ ms - ${length}$`, 'mu'));
      await untilWritten(/^ {2}Home\n/mu);
      await server.stop();
      const output = server.output();
      assert.ok(
        output.includes(
          `  Resources\n  ${server.url}/posts\n  ${server.url}/profile\n  ${server.url}/users\n\n  Other routes\n  /api/* -> /$1\n\n  Home\n  ${server.url}\n`,
        ),
        output,
      );
      assert.match(output, new RegExp(`^GET /posts 200 [\\d.]+ ms - ${length}$`, 'mu'));
      // The query string is never logged (it carries tokens on other routes).
      assert.doesNotMatch(output, /secret-query/u);
      assert.doesNotMatch(output, /"level"/u);
    });

    it('off a terminal, by default: JSON lines, the resources as a field', async () => {
      const server = await start([]);
      await untilWritten(/data API: 3 resources/u);
      await server.stop();
      const line = server
        .output()
        .split('\n')
        .find((text) => text.includes('data API: 3 resources'));
      assert.ok(line, server.output());
      assert.deepEqual((JSON.parse(line) as { resources: string[] }).resources, [
        'posts',
        'profile',
        'users',
      ]);
    });
  });
});
