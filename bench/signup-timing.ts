/**
 * GoTrue's sign-up with confirmation on: the time of a taken address's look-alike answer beside a
 * new address's, argon2id as configured by default. A timing, so it lives here, printed and never
 * asserted (test/gotrue/signup-work.test.ts checks the work each does). Both kinds interleave in a
 * random order, so the machine's drift falls on both; the ratio of medians is near 1 when an
 * attacker cannot tell them apart (it was 2.5-2.9 before the sign-up hashed for taken addresses),
 * and the share of (new, taken) pairs in which the new one was slower near 50 %.
 */
import { LOCAL_CALL } from '../src/core/audit.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServices } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import { buildApp } from '../src/http/app.js';
import { sinkMailSettings, startSmtpSink } from '../test/support/smtp-sink.js';
import { table } from './support.js';

const ROUNDS = 50;
const password = 'a long passphrase';

export async function runSignupTimingBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-signup-'));
  const sink = await startSmtpSink();
  const config = await loadConfig({
    cwd: dir,
    env: { RESTAUTH_JWT_SECRET: 'bench-secret-0123456789abcdef-0123456789', RESTAUTH_RATE_LIMITS: 'off' },
    overrides: { email: sinkMailSettings(sink) },
  });
  const services = await createServices(config, { info() {}, warn() {} });
  const app = await buildApp(services);
  const t = { app, services };
  try {
    await t.services.admin.createUser(LOCAL_CALL, { email: 'taken@acme.test', password, emailConfirm: true });
    const timed = async (email: string): Promise<number> => {
      const started = process.hrtime.bigint();
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email, password },
      });
      const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
      if (res.statusCode !== 200) throw new Error(`sign-up of ${email}: ${res.statusCode} ${res.body}`);
      return elapsed;
    };
    // Warm-up: the first requests compile code paths; they are start-up work, not what is compared.
    for (let i = 0; i < 4; i++) {
      await timed(`warm${i}@acme.test`);
      await timed('taken@acme.test');
    }
    const fresh: number[] = [];
    const taken: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const newFirst = Math.random() < 0.5;
      if (newFirst) fresh.push(await timed(`new${round}@acme.test`));
      taken.push(await timed('taken@acme.test'));
      if (!newFirst) fresh.push(await timed(`new${round}@acme.test`));
    }
    await t.services.idle();
    let newSlower = 0;
    for (const a of fresh) for (const b of taken) newSlower += a > b ? 1 : a === b ? 0.5 : 0;
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
    console.log(
      `\nGoTrue sign-up with confirmation: taken address beside new (${ROUNDS} each, load ${loadavg()[0]!.toFixed(1)})\n`,
    );
    console.log(
      table([
        {
          'new median (ms)': median(fresh).toFixed(1),
          'taken median (ms)': median(taken).toFixed(1),
          'ratio new / taken': (median(fresh) / median(taken)).toFixed(2),
          'new slower in pairs': `${((newSlower / (fresh.length * taken.length)) * 100).toFixed(0)} %`,
        },
      ]),
    );
  } finally {
    await app.close();
    await services.close();
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  }
}
