import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * The foundation issue asks for this measurement as a test: hashing must run
 * off the event loop, so 50 concurrent logins leave the loop responsive. It
 * is the one timing bound in the suite, and its margin is wide: a hash run
 * on the loop itself would stall it for tens of milliseconds per login.
 */
describe('event loop during 50 concurrent logins', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ format: 'restauth' });
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'lag', password: 'a long enough password' },
    });
    assert.equal(res.statusCode, 200, res.body);
  });
  after(() => t.close());

  it('stays under 20 ms of lag (argon2id, OWASP parameters)', async () => {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        t.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { username: 'lag', password: 'a long enough password' },
        }),
      ),
    );
    histogram.disable();
    for (const res of responses) assert.equal(res.statusCode, 200, res.body);
    const maxLagMs = histogram.max / 1e6;
    assert.ok(maxLagMs < 20, `event loop lag reached ${maxLagMs.toFixed(1)} ms`);
  });
});
