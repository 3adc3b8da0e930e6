import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oneProbeAtATime, readinessOf, type Readiness } from '../../src/core/ports/readiness.js';

/**
 * /ready and GoTrue's /health answer anyone, unlimited: each PostgreSQL probe holds a pooled
 * connection for its catalogue queries, so a flood of probes at once held as many connections as it
 * sent, the ones sign-ins wait for. Calls while a probe runs share it; none is kept after it.
 */
describe('oneProbeAtATime', () => {
  it('runs one probe for the calls made while it runs, and a new one for each call after', async () => {
    const runs: Array<(report: Readiness) => void> = [];
    const probe = oneProbeAtATime(() => new Promise<Readiness>((resolve) => runs.push(resolve)));
    const flood = Array.from({ length: 50 }, () => probe());
    assert.equal(runs.length, 1, 'one probe for fifty calls at once');
    runs[0]!(readinessOf({ database: 'ok' }));
    for (const report of await Promise.all(flood))
      assert.deepEqual(report, { ready: true, checks: { database: 'ok' } });

    // After it, the store is looked at again: an outage since is reported at once.
    const next = probe();
    assert.equal(runs.length, 2);
    runs[1]!(readinessOf({ database: 'unreachable' }));
    assert.equal((await next).ready, false);
  });

  it('a probe that fails fails every call that shared it, and the next call probes again', async () => {
    let calls = 0;
    let fail: (error: Error) => void = () => {};
    const probe = oneProbeAtATime(() => {
      calls += 1;
      return calls === 1
        ? new Promise<Readiness>((_resolve, reject) => (fail = reject))
        : Promise.resolve(readinessOf({ database: 'ok' }));
    });
    const shared = [probe(), probe()];
    fail(new Error('catalogue query failed'));
    for (const call of shared) await assert.rejects(call, /catalogue query failed/);
    assert.equal((await probe()).ready, true);
    assert.equal(calls, 2);
  });
});
