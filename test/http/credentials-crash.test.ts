import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnCrashTarget, spawnRestauth } from '../support/process.js';

interface Pair {
  access_token: string;
  refresh_token: string;
}

async function post(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  // json-data-server answers its errors in plain text.
  return {
    status: res.status,
    json: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

/**
 * A session as its client sees it: the refresh token it holds now and
 * whether its logout was answered. `inFlight` while a request on it is
 * unanswered: the server may or may not have committed that one when it was
 * killed, so that session is not judged.
 */
interface ClientSession {
  user: string;
  refreshToken: string;
  loggedOut: boolean;
  inFlight: boolean;
}

/**
 * A real restauth process on the file store is SIGKILLed while sign-ins,
 * refreshes and logouts pour in (each acknowledged by a journal line of
 * credentials.json, which is never rewritten before the kill). After a
 * restart every acknowledged one holds: an answered refresh's token works,
 * an answered logout's does not.
 */
describe('crash during sign-ins, refreshes and logouts (credentials journal)', () => {
  for (const killAfter of [40, 160]) {
    it(`SIGKILL after ${killAfter} acknowledged session writes loses none of them`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-credentials-crash-'));
      try {
        const server = await spawnCrashTarget(dir);
        const users = Array.from({ length: 8 }, (_, i) => `user${i}`);
        for (const user of users) {
          const registered = await post(`${server.url}/auth/register`, {
            username: user,
            password: `pw-${user}`,
          });
          assert.equal(registered.status, 200);
        }
        const sessions: ClientSession[] = [];
        let acknowledged = 0;
        let reachedCount = () => {};
        const enough = new Promise<void>((resolve) => (reachedCount = resolve));
        const counted = () => {
          if (++acknowledged === killAfter) reachedCount();
        };
        /** Sends a request on a session; false once the server is gone. */
        const onSession = async (session: ClientSession, route: string, status: number) => {
          session.inFlight = true;
          const answer = await post(`${server.url}${route}`, { refresh_token: session.refreshToken }).catch(
            () => null,
          );
          if (answer?.status !== status) return false;
          if (status === 200) session.refreshToken = (answer.json as Pair).refresh_token;
          else session.loggedOut = true;
          session.inFlight = false;
          counted();
          return true;
        };
        /** Each user in turn: sign in, refresh three times, log out every other session, again. */
        const worker = async (user: string) => {
          for (let round = 0; ; round++) {
            const signedIn = await post(`${server.url}/auth/login`, {
              username: user,
              password: `pw-${user}`,
            }).catch(() => null);
            if (signedIn?.status !== 200) return;
            const session = {
              user,
              refreshToken: (signedIn.json as Pair).refresh_token,
              loggedOut: false,
              inFlight: false,
            };
            sessions.push(session);
            counted();
            for (let refresh = 0; refresh < 3; refresh++) {
              if (!(await onSession(session, '/auth/refresh', 200))) return;
            }
            if (round % 2 === 1 && !(await onSession(session, '/auth/logout', 204))) return;
          }
        };
        const workers = users.map(worker);
        // (or the process dying first, which the checks below then report)
        await Promise.race([enough, new Promise((resolve) => server.child.once('exit', resolve))]);
        await server.kill();
        await Promise.all(workers);
        const judged = sessions.filter((session) => !session.inFlight);
        t.diagnostic(
          `${acknowledged} session writes acknowledged before the kill; ${judged.length} of ${sessions.length} ` +
            `sessions idle at the kill (${judged.filter((session) => session.loggedOut).length} logged out)`,
        );
        assert.ok(acknowledged >= killAfter);
        // Sessions of finished rounds (each user's first takes four writes) are judged however the kill fell.
        assert.ok(judged.length > 0);

        const restarted = await spawnRestauth(dir);
        try {
          assert.match(
            restarted.output(),
            /credentials\.json was not closed cleanly; \d+ acknowledged write\(s\) replayed from \.credentials\.json\.journal/,
          );
          for (const session of judged) {
            const answer = await post(`${restarted.url}/auth/refresh`, {
              refresh_token: session.refreshToken,
            });
            if (session.loggedOut)
              assert.notEqual(
                answer.status,
                200,
                `${session.user}: a logout acknowledged before the kill was lost`,
              );
            else
              assert.equal(
                answer.status,
                200,
                `${session.user}: an acknowledged sign-in or refresh was lost`,
              );
          }
          // Every user signs in after the restart: nothing else of credentials.json was lost either.
          for (const user of users) {
            const answer = await post(`${restarted.url}/auth/login`, {
              username: user,
              password: `pw-${user}`,
            });
            assert.equal(answer.status, 200, `${user} cannot sign in after the crash`);
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
