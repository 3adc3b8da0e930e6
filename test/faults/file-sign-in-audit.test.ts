import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { durableAudit, durableCredentials } from '../support/durable.js';
import { spawnCrashTarget, spawnRestauth } from '../support/process.js';

async function login(url: string, username: string): Promise<{ status: number; session: string | null }> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: `pw-${username}` }),
  });
  if (res.status !== 200) return { status: res.status, session: null };
  const { access_token } = (await res.json()) as { access_token: string };
  return { status: 200, session: String(decodeJwt(access_token).session_id) };
}

/**
 * A file-store sign-in's audit event is journaled in its session's commit (one fdatasync) and reaches
 * the audit log's own file up to a second later. A real restauth process is SIGKILLed while sign-ins
 * pour in: every answered sign-in must have both its session and its sign_in event durable, no event
 * may outnumber the sign-ins asked for, and the restart must move the journal's events into the audit
 * file once each (none lost, none twice).
 */
describe('crash during sign-ins (the audit event in the session journal)', () => {
  it('SIGKILL mid-sign-ins: each answered sign-in keeps its session and its event, none is written twice', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-sign-in-audit-'));
    try {
      const server = await spawnCrashTarget(dir);
      const users = Array.from({ length: 6 }, (_, i) => `user${i}`);
      for (const user of users) {
        const res = await fetch(`${server.url}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: user, password: `pw-${user}` }),
        });
        assert.equal(res.status, 200);
      }
      const answered = new Map<string, string[]>(users.map((user) => [user, []]));
      const asked = new Map<string, number>(users.map((user) => [user, 0]));
      let acknowledged = 0;
      let reached = () => {};
      const enough = new Promise<void>((resolve) => (reached = resolve));
      const worker = async (user: string) => {
        for (;;) {
          asked.set(user, asked.get(user)! + 1);
          const answer = await login(server.url, user).catch(() => null);
          if (answer?.status !== 200) return;
          answered.get(user)!.push(answer.session!);
          if (++acknowledged === 120) reached();
        }
      };
      const workers = users.map(worker);
      await Promise.race([enough, new Promise((resolve) => server.child.once('exit', resolve))]);
      await server.kill();
      await Promise.all(workers);
      assert.ok(acknowledged >= 120, `only ${acknowledged} sign-ins answered before the kill`);

      // What the kill left on disk, read as a restart reads it.
      const credentialsFile = join(dir, 'credentials.json');
      const durableSessions = (await durableCredentials(credentialsFile)).sessions as Record<
        string,
        { userId: string }
      >;
      const events = (await durableAudit(credentialsFile)).filter((event) => event.action === 'sign_in');
      const journal = await readFile(join(dir, '.credentials.json.journal'), 'utf8').catch(() => '');
      const journaled = journal.split('\n').filter((line) => line.startsWith('{"op":"audit"')).length;
      t.diagnostic(`${acknowledged} sign-ins answered; ${journaled} sign-in events still in the journal`);
      const idOf = new Map<string, string>();
      for (const [id, session] of Object.entries(durableSessions)) idOf.set(id, session.userId);
      for (const user of users) {
        const sessions = answered.get(user)!;
        for (const session of sessions)
          assert.ok(idOf.has(session), `${user}: an answered sign-in's session was lost`);
        const userId = idOf.get(sessions[0]!)!;
        const mine = events.filter((event) => event.userId === userId).length;
        assert.ok(
          mine >= sessions.length,
          `${user}: ${sessions.length} sign-ins answered, ${mine} events kept`,
        );
        // An event is written only with its session: never one for a sign-in that was not asked for.
        assert.ok(mine <= asked.get(user)!, `${user}: ${mine} events for ${asked.get(user)} sign-ins`);
      }

      const restarted = await spawnRestauth(dir);
      await restarted.stop();
      // The restart appended the journal's events to the audit file, each once, and lost none.
      const lines = (await readFile(join(dir, 'credentials.audit.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean);
      const ids = lines.map((line) => (JSON.parse(line) as { id: string }).id);
      assert.equal(new Set(ids).size, ids.length, 'an event was written twice');
      const signIns = lines.filter((line) => (JSON.parse(line) as { action: string }).action === 'sign_in');
      assert.equal(signIns.length, events.length, 'the restart kept other sign-in events than were durable');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
