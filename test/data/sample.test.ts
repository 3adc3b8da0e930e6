import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/** `restauth db.json` naming a missing file starts on json-server's sample data, as `json-server db.json` did. */
const require = createRequire(import.meta.url);
const loadJsonServerSource = require('json-server/lib/cli/utils/load') as (
  source: string,
) => Promise<unknown>;
const ENV = { RESTAUTH_JWT_SECRET: 'sample-db-secret-0123456789abcdef0123456' };

describe("json-server's sample db.json", () => {
  let dir: string | undefined;
  let running: RestauthProcess | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('restauth db.json in an empty folder writes the sample json-server writes, and serves it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-sample-'));
    const theirs = join(dir, 'theirs.json');
    await loadJsonServerSource(theirs);
    running = await spawnRestauth(dir, ['db.json'], ENV);
    assert.match(running.output(), /db\.json did not exist: created it with json-server's sample data/);
    const ours = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as Record<string, unknown>;
    const { users, ...data } = ours;
    assert.deepEqual(users, []);
    assert.deepEqual(data, JSON.parse(await readFile(theirs, 'utf8')));
    const registered = await fetch(`${running.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'sample-user', password: 'sample-user-pw' }),
    });
    const { access_token: token } = (await registered.json()) as { access_token: string };
    const posts = await fetch(`${running.url}/posts`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(await posts.json(), [{ id: 1, title: 'json-server', author: 'typicode' }]);
  });

  it('never beside an existing credentials file, nor without a DATA_FILE argument', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-nosample-'));
    running = await spawnRestauth(dir, [], ENV);
    await running.stop();
    running = undefined;
    const plain = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as { posts?: unknown };
    assert.equal(plain.posts, undefined);
    // The credentials file that start left, without its db.json: no data is invented.
    await rm(join(dir, 'db.json'));
    running = await spawnRestauth(dir, ['db.json'], ENV);
    assert.doesNotMatch(running.output(), /sample data/);
    const text = await readFile(join(dir, 'db.json'), 'utf8');
    assert.equal((JSON.parse(text) as { posts?: unknown }).posts, undefined);
  });
});
