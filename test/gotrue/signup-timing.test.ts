import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * With confirmation on, a sign-up for a taken address answers like one for a
 * new address; its time must not tell them apart either (it did: medians
 * 59-137 ms new against 39-45 ms taken). Many sign-ups of each kind are timed,
 * interleaved in a random order so the machine's drift falls on both, and
 * compared by ranks and medians: the share of (new, taken) pairs in which the
 * new one was slower is near 1/2 when the distributions are one, near 1 when
 * new sign-ups take longer; the medians are alike, or far apart. The bounds
 * are far from both (over four standard deviations from 1/2), so a busy
 * machine's noise, which pushes the share towards 1/2, cannot fail it.
 */
const ROUNDS = 50;

describe('GoTrue sign-up: a taken address takes as long as a new one', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => {
    ({ t, sink } = await startMailingApp({
      // The default hasher (argon2id), not the fast one: the timings an attacker would measure.
      passwords: undefined,
      dialects: { gotrue: { enabled: true } },
    }));
  });
  after(() => stopMailingApp(t, sink));

  const timedSignUp = async (email: string): Promise<number> => {
    const started = process.hrtime.bigint();
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email, password: 'a long passphrase' },
    });
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(res.statusCode, 200, res.body);
    return elapsed;
  };

  it('the times of new and taken addresses are one distribution (rank comparison)', async (context) => {
    await t.services.admin.createUser({
      email: 'taken@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    // Warm-up: the first requests compile code paths; they are start-up work, not what is compared.
    for (let i = 0; i < 4; i++) {
      await timedSignUp(`warm${i}@acme.test`);
      await timedSignUp('taken@acme.test');
    }
    const fresh: number[] = [];
    const taken: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const newFirst = Math.random() < 0.5;
      if (newFirst) fresh.push(await timedSignUp(`new${round}@acme.test`));
      taken.push(await timedSignUp('taken@acme.test'));
      if (!newFirst) fresh.push(await timedSignUp(`new${round}@acme.test`));
    }
    await t.services.idle();
    let newSlower = 0;
    for (const a of fresh) for (const b of taken) newSlower += a > b ? 1 : a === b ? 0.5 : 0;
    const share = newSlower / (fresh.length * taken.length);
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
    const summary = `new slower in ${(share * 100).toFixed(0)} % of pairs; medians new ${median(fresh).toFixed(1)} ms, taken ${median(taken).toFixed(1)} ms`;
    context.diagnostic(summary);
    // Equal distributions: 50 % +- 5.8 (one standard deviation at 50 x 50), medians alike. Before the fix,
    // on a loaded machine: 79-86 % of pairs, medians 2.5-2.9 times apart.
    assert.ok(share > 0.25 && share < 0.75, summary);
    const ratio = median(fresh) / median(taken);
    assert.ok(ratio > 2 / 3 && ratio < 3 / 2, summary);
  });
});
