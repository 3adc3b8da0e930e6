import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * The foundation issue asks for this measurement as a test: hashing must run
 * off the event loop, so 50 concurrent logins leave the loop responsive. It
 * is the one timing bound in the suite, and its margin is wide: a hash run
 * on the loop itself would stall it for tens of milliseconds per login.
 * (Measured here: p99 5-8 ms, max 7-17 ms.)
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

  const logins = () =>
    Promise.all(
      Array.from({ length: 50 }, () =>
        t.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { username: 'lag', password: 'a long enough password' },
        }),
      ),
    );

  it('stays under 20 ms of lag (argon2id, OWASP parameters)', async (context) => {
    // A first round compiles the code paths (JIT, schemas): start-up work, not what is measured.
    await logins();
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const responses = await logins();
    histogram.disable();
    for (const res of responses) assert.equal(res.statusCode, 200, res.body);
    const maxLagMs = histogram.max / 1e6;
    const p99Ms = histogram.percentile(99) / 1e6;
    context.diagnostic(`event loop lag: max ${maxLagMs.toFixed(1)} ms, p99 ${p99Ms.toFixed(1)} ms`);
    // p99 rather than max: one garbage-collection pause is not what this guards against; hashing on the
    // loop would put every sample behind a 9 ms argon2 run and push p99 far past 20 ms.
    assert.ok(p99Ms < 20, `event loop lag reached ${p99Ms.toFixed(1)} ms (p99)`);
  });
});
