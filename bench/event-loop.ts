/**
 * Event-loop lag while 50 logins hash at once (argon2id, OWASP parameters),
 * through the real app: hashing runs on threads of its own, so the loop
 * stays responsive. A timing, so it lives here and not in the test suite
 * (test/core/hashing-off-loop.test.ts checks the property itself).
 * Measured before the move: p99 5-8 ms, max 7-17 ms; on the loop, a hash
 * would stall it for tens of milliseconds per login.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createServices } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import { buildApp } from '../src/http/app.js';
import { table } from './support.js';

const LOGINS = 50;
const ROUNDS = 5;

export async function runEventLoopBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-bench-loop-'));
  const config = await loadConfig({
    cwd: dir,
    env: { RESTAUTH_JWT_SECRET: 'bench-secret-0123456789abcdef-0123456789', RESTAUTH_RATE_LIMITS: 'off' },
  });
  const quiet = { info() {}, warn() {} };
  const services = await createServices(config, quiet);
  const app = await buildApp(services);
  const credentials = { username: 'lag', password: 'a long enough password' };
  try {
    const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: credentials });
    if (registered.statusCode !== 200) throw new Error(`register: ${registered.body}`);
    const logins = () =>
      Promise.all(
        Array.from({ length: LOGINS }, () =>
          app.inject({ method: 'POST', url: '/auth/login', payload: credentials }),
        ),
      );
    // A first round compiles the code paths (JIT, schemas): start-up work, not what is measured.
    await logins();
    const rows: Array<Record<string, string | number>> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      const responses = await logins();
      histogram.disable();
      if (responses.some((res) => res.statusCode !== 200)) throw new Error('a login failed');
      rows.push({
        round,
        'p50 lag (ms)': (histogram.percentile(50) / 1e6).toFixed(1),
        'p99 lag (ms)': (histogram.percentile(99) / 1e6).toFixed(1),
        'max lag (ms)': (histogram.max / 1e6).toFixed(1),
      });
    }
    console.log(`\nEvent-loop lag during ${LOGINS} concurrent logins (argon2id)\n`);
    console.log(table(rows));
  } finally {
    await app.close();
    await services.close();
    await rm(dir, { recursive: true, force: true });
  }
}
