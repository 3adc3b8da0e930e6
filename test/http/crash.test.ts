import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { durableCredentials, durableData } from '../support/durable.js';
import { spawnCrashTarget, spawnRestauth } from '../support/process.js';

async function register(url: string, username: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: `pw-${username}`, note: 'crash test' }),
    });
    return res.status === 200;
  } catch {
    return false; // the connection died with the process: not acknowledged
  }
}

/**
 * A real restauth process is killed with SIGKILL while registrations pour in.
 * Afterwards both files must parse, every registration that was answered 200
 * must log in, and no user may exist on one side only.
 */
describe('crash during a burst of registrations', () => {
  // Killed once this many writes were acknowledged: the same moment on a fast or a busy machine.
  for (const killAfter of [5, 20, 60]) {
    it(`SIGKILL after ${killAfter} acknowledged writes loses no acknowledged user and leaves none half-registered`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-crash-'));
      try {
        const server = await spawnCrashTarget(dir);
        const acknowledged: string[] = [];
        let reachedCount = () => {};
        const enough = new Promise<void>((resolve) => (reachedCount = resolve));
        let next = 0;
        let stop = false;
        const worker = async () => {
          while (!stop) {
            const name = `user${next++}`;
            if (await register(server.url, name)) {
              acknowledged.push(name);
              if (acknowledged.length === killAfter) reachedCount();
            }
          }
        };
        const workers = Array.from({ length: 8 }, worker);
        // (or the process dying first, which the checks below then report)
        await Promise.race([enough, new Promise((resolve) => server.child.once('exit', resolve))]);
        await server.kill();
        stop = true;
        await Promise.all(workers);
        t.diagnostic(`${acknowledged.length} registrations acknowledged before the kill`);

        // What the kill left durable: each file with its journal's acknowledged writes (a sign-up is journal lines).
        const db = (await durableData(join(dir, 'db.json'))) as { users?: Array<{ id: string }> };
        const credentials = (await durableCredentials(join(dir, 'credentials.json'))) as {
          passwords: Array<{ sub: string }>;
        };
        // A kill before the first commit leaves db.json as created: no users collection yet.
        const users = new Set((db.users ?? []).map((u) => u.id));
        for (const name of acknowledged)
          assert.ok(users.has(name), `${name} was acknowledged but is missing`);

        const restarted = await spawnRestauth(dir);
        try {
          const afterDb = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as {
            users?: Array<{ id: string }>;
          };
          const afterCredentials = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as {
            passwords: Array<{ sub: string }>;
          };
          const withUser = new Set((afterDb.users ?? []).map((u) => u.id));
          const withPassword = new Set(afterCredentials.passwords.map((p) => p.sub));
          for (const id of withUser) assert.ok(withPassword.has(id), `${id} is a user without credentials`);
          // A kill between the two files' writes (credentials first) can leave credentials without a
          // user: kept, as credentials are never deleted automatically, and never an acknowledged one.
          for (const id of withPassword) {
            if (!withUser.has(id)) assert.ok(!acknowledged.includes(id), `${id} was acknowledged`);
          }
          assert.ok(credentials.passwords.length >= acknowledged.length);
          for (const name of acknowledged) {
            const res = await fetch(`${restarted.url}/auth/login`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ username: name, password: `pw-${name}` }),
            });
            assert.equal(res.status, 200, `${name} cannot log in after the crash`);
          }
        } finally {
          await restarted.stop();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
