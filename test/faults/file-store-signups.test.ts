import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { spawnCrashTarget, spawnRestauth } from '../support/process.js';

async function post(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/**
 * A real restauth process on the file store is SIGKILLed while sign-ups pour
 * in (each acknowledged once its journal lines are fdatasynced, neither file
 * rewritten before the kill). After a restart every acknowledged user signs
 * in, and a sign-up that was in flight at the kill is either whole (signs in)
 * or absent (its name can be registered again): never half a user.
 */
describe('crash during sign-ups (journaled users)', () => {
  for (const killAfter of [30, 120]) {
    it(`SIGKILL after ${killAfter} acknowledged sign-ups loses none and leaves no half user`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-signup-crash-'));
      try {
        const server = await spawnCrashTarget(dir);
        const acknowledged: string[] = [];
        const inFlight = new Set<string>();
        let reachedCount = () => {};
        const enough = new Promise<void>((resolve) => (reachedCount = resolve));
        const worker = async (w: number) => {
          for (let n = 0; ; n++) {
            const username = `w${w}-${n}`;
            inFlight.add(username);
            const answer = await post(`${server.url}/auth/register`, {
              username,
              password: `pw-${username}`,
            }).catch(() => null);
            if (answer?.status !== 200) return;
            inFlight.delete(username);
            if (acknowledged.push(username) === killAfter) reachedCount();
          }
        };
        const workers = Array.from({ length: 6 }, (_, w) => worker(w));
        // (or the process dying first, which the checks below then report)
        await Promise.race([enough, new Promise((resolve) => server.child.once('exit', resolve))]);
        await server.kill();
        await Promise.all(workers);
        t.diagnostic(
          `${acknowledged.length} sign-ups acknowledged before the kill, ${inFlight.size} in flight`,
        );
        assert.ok(acknowledged.length >= killAfter);
        // credentials.json was never rewritten: as restauth created it, the accounts only in its journal.
        assert.deepEqual(JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')), {
          passwords: [],
        });

        const restarted = await spawnRestauth(dir);
        try {
          assert.match(
            restarted.output(),
            /credentials\.json was not closed cleanly; \d+ acknowledged write\(s\) replayed from \.credentials\.json\.journal/,
          );
          for (const username of acknowledged) {
            const answer = await post(`${restarted.url}/auth/login`, {
              username,
              password: `pw-${username}`,
            });
            assert.equal(answer.status, 200, `${username}: an acknowledged sign-up was lost`);
          }
          for (const username of inFlight) {
            const login = await post(`${restarted.url}/auth/login`, { username, password: `pw-${username}` });
            if (login.status === 200) continue;
            // Not whole: then not there at all, and the name is free.
            const again = await post(`${restarted.url}/auth/register`, {
              username,
              password: `pw-${username}`,
            });
            assert.equal(
              again.status,
              200,
              `${username}: half a user (${login.status} ${login.text}; ${again.text})`,
            );
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

/**
 * Concurrent sign-ups of one address over HTTP, in each dialect that signs
 * up on the file store: exactly one account, the others answered as a
 * sign-up of a taken address always is (the answer a later, lone attempt gets).
 */
describe('concurrent sign-ups of one address (file store)', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        dialects: {
          jsonServerAuth: { enabled: true },
          jsonDataServer: { enabled: true },
          gotrue: { enabled: true },
        },
      },
      files: { 'db.json': JSON.stringify({ users: [] }) },
    });
  });
  after(() => t.close());

  const cases = [
    {
      dialect: 'GoTrue /signup',
      url: '/auth/v1/signup',
      body: (i: number) => ({ email: 'Race@Example.com', password: `long passphrase ${i}` }),
    },
    {
      dialect: 'json-data-server /auth/register',
      url: '/auth/register',
      body: (i: number) => ({ username: 'racer', password: `long passphrase ${i}` }),
    },
    {
      dialect: 'json-server-auth /register',
      url: '/register',
      body: (i: number) => ({ email: 'race2@example.com', password: `long passphrase ${i}` }),
    },
    {
      dialect: 'json-server-auth /signup',
      url: '/signup',
      body: (i: number) => ({ email: 'race3@example.com', password: `long passphrase ${i}` }),
    },
  ];
  for (const { dialect, url, body } of cases) {
    it(`${dialect}: one of 16 racing sign-ups of one address wins, the others get the usual answer`, async () => {
      const answers = await Promise.all(
        Array.from({ length: 16 }, (_, i) => t.app.inject({ method: 'POST', url, payload: body(i) })),
      );
      const later = await t.app.inject({ method: 'POST', url, payload: body(99) });
      const won = answers.filter((answer) => answer.statusCode < 300);
      assert.equal(won.length, 1, answers.map((answer) => answer.statusCode).join(' '));
      assert.ok(later.statusCode >= 400, `a later sign-up of the address answered ${later.statusCode}`);
      for (const answer of answers.filter((answer) => answer.statusCode >= 300)) {
        assert.equal(answer.statusCode, later.statusCode);
        assert.equal(answer.body, later.body);
      }
    });
  }
});
