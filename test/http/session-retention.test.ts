import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import { hashSecret } from '../../src/core/secrets.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { durableCredentials } from '../support/durable.js';

const HOUR = 3_600_000;

async function post(t: TestApp, url: string, body: unknown) {
  const res = await t.app.inject({ method: 'POST', url, payload: body as Record<string, unknown> });
  return { status: res.statusCode, body: res.body === '' ? null : (res.json() as Record<string, string>) };
}

/**
 * Ended sessions go on a timer, whoever signs in: the hourly upkeep deletes
 * those that ended more than sessions.endedRetention ago, by the injected
 * clock. The interval is the only mocked timer (node:test's mock timers); the
 * file store's own timers run for real.
 */
describe('session retention on the file store', () => {
  it('the hourly upkeep deletes a session ended longer than the retention ago, with its refresh tokens', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    let t: TestApp | null = null;
    try {
      t = await createTestApp({
        format: 'restauth',
        config: { sessions: { endedRetention: '1d' }, passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } },
      });
      const app = t;
      const registered = await post(app, '/auth/register', { username: 'alice', password: 'alice-password' });
      assert.equal(registered.status, 200);
      const kept = registered.body!.refresh_token!;
      const signedIn = await post(app, '/auth/login', { username: 'alice', password: 'alice-password' });
      const ended = signedIn.body!.refresh_token!;
      assert.equal((await post(app, '/auth/logout', { refresh_token: ended })).status, 204);
      const known = async (token: string) =>
        (await app.services.store.findRefreshToken(hashSecret(token))) !== null;
      /** The clock moves on, then the interval fires; idle() awaits the prune it started. */
      const anHourLater = async (clockMs: number) => {
        app.advance(clockMs);
        mock.timers.tick(HOUR);
        await app.services.idle();
      };

      await anHourLater(23 * HOUR);
      assert.equal(await known(ended), true, 'ended 23 h ago: kept (a replay still meets "revoked")');
      await anHourLater(2 * HOUR);
      assert.equal(await known(ended), false, 'ended 25 h ago: pruned');
      assert.equal(await known(kept), true, 'the live session stays');
      const durable = JSON.stringify(await durableCredentials(join(app.dir, 'credentials.json')));
      assert.ok(!durable.includes(hashSecret(ended)), 'the prune is durable: journaled like any write');
      assert.ok(durable.includes(hashSecret(kept)));
      // The live session still refreshes.
      assert.equal((await post(app, '/auth/refresh', { refresh_token: kept })).status, 200);
    } finally {
      await t?.close();
      mock.timers.reset();
    }
  });
});
