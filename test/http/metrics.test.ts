import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { resolveJwtSecret } from '../../src/config/secret.js';
import { startServer } from '../../src/http/server.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';
import { parse, valueOf } from '../support/metric-samples.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';

type Json = Record<string, unknown>;

/**
 * A scrape of /metrics after a scripted sequence shows exactly what
 * happened: sign-up (and its welcome mail over real SMTP), a sign-in and a
 * wrong password, a refresh and a reuse of its spent token, a rate-limited
 * sign-up, an unknown URL. On both stores; PostgreSQL also shows its pool.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`metrics (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    async function post(url: string, body: Json): Promise<{ status: number; json: Json }> {
      const response = await t.app.inject({ method: 'POST', url, payload: body });
      return { status: response.statusCode, json: response.json() };
    }

    before(async () => {
      sink = await startSmtpSink();
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          email: sinkMailSettings(sink),
          signup: { confirmEmail: false },
          metrics: { enabled: true },
          // One sign-up per client and window: the second is refused.
          rateLimits: { signUp: { max: 1, window: 300 } },
        },
        env: { RESTAUTH_RATE_LIMITS: '' },
      });
    });
    after(async () => {
      await t.close();
      await sink.close();
      await store.drop();
    });

    it('counts requests by route pattern and status, sign-ins by outcome, reuse, refusals and mail', async () => {
      const password = 'a metrics passphrase';
      const signedUp = await post('/auth/v1/signup', { email: 'mia@acme.test', password });
      assert.equal(signedUp.status, 200);
      await t.services.idle();
      await sink.waitForMail((mail) => mail.to === 'mia@acme.test', 5000);

      const signedIn = await post('/auth/v1/token?grant_type=password', { email: 'mia@acme.test', password });
      assert.equal(signedIn.status, 200);
      const wrong = await post('/auth/v1/token?grant_type=password', {
        email: 'mia@acme.test',
        password: 'not the passphrase',
      });
      assert.equal(wrong.status, 400);
      const spent = signedIn.json['refresh_token'] as string;
      const refreshed = await post('/auth/v1/token?grant_type=refresh_token', { refresh_token: spent });
      assert.equal(refreshed.status, 200);
      t.advance(60_000); // past the reuse grace period (10 s)
      const reused = await post('/auth/v1/token?grant_type=refresh_token', { refresh_token: spent });
      assert.equal(reused.status, 400);
      assert.equal(reused.json['error_code'] ?? reused.json['error'], 'refresh_token_already_used');
      // A magic-link sign-in, by the mailed code.
      const mailsBefore = sink.mails.length;
      assert.equal((await post('/auth/v1/otp', { email: 'mia@acme.test' })).status, 200);
      await t.services.idle();
      const magic = await sink.waitForMail(
        (mail) => mail.to === 'mia@acme.test' && sink.mails.indexOf(mail) >= mailsBefore,
        5000,
      );
      const code = /Your code: (\d{6})/u.exec(magic.text)?.[1];
      const verified = await post('/auth/v1/verify', { type: 'email', email: 'mia@acme.test', token: code });
      assert.equal(verified.status, 200);
      const badCode = await post('/auth/v1/verify', { type: 'email', email: 'mia@acme.test', token: code });
      assert.equal(badCode.status, 403);
      const limited = await post('/auth/v1/signup', { email: 'max@acme.test', password });
      assert.equal(limited.status, 429);
      const unknown = await t.app.inject({ method: 'GET', url: '/no/such/place?token=abc' });
      assert.equal(unknown.statusCode, 404);
      await t.services.idle();

      const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(scrape.statusCode, 200);
      assert.match(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/u);
      const samples = parse(scrape.body);
      const requests = (route: string, status: string, method = 'POST') =>
        valueOf(samples, 'restauth_http_requests_total', { method, route, status });

      assert.deepEqual(
        {
          signUpOk: requests('/auth/v1/signup', '200'),
          signUpLimited: requests('/auth/v1/signup', '429'),
          tokenOk: requests('/auth/v1/token', '200'),
          tokenRefused: requests('/auth/v1/token', '400'),
          // The file store's data API has a route for every path (/*); otherwise none matched.
          unmatched: requests(storeKind === 'file' ? '/*' : 'unmatched', '404', 'GET'),
          durationCount: valueOf(samples, 'restauth_http_request_duration_seconds_count', {
            route: '/auth/v1/token',
            status: '200',
          }),
          signInSuccess: valueOf(samples, 'restauth_sign_ins_total', {
            method: 'password',
            outcome: 'success',
          }),
          signInWrong: valueOf(samples, 'restauth_sign_ins_total', {
            method: 'password',
            outcome: 'invalid_credentials',
          }),
          signUpSignIn: valueOf(samples, 'restauth_sign_ins_total', { method: 'signup', outcome: 'success' }),
          emailSignIn: valueOf(samples, 'restauth_sign_ins_total', { method: 'email', outcome: 'success' }),
          reuse: valueOf(samples, 'restauth_refresh_token_reuse_total'),
          refusals: valueOf(samples, 'restauth_rate_limit_refusals_total', { family: 'signUp' }),
          mailsSent: valueOf(samples, 'restauth_mails_sent_total'),
          mailsFailed: valueOf(samples, 'restauth_mails_failed_total'),
          queueDepth: valueOf(samples, 'restauth_mail_queue_depth'),
          createUser: valueOf(samples, 'restauth_store_operation_duration_seconds_count', {
            operation: 'createUser',
          }),
        },
        {
          signUpOk: 1,
          signUpLimited: 1,
          tokenOk: 2,
          tokenRefused: 2,
          unmatched: 1,
          durationCount: 2,
          signInSuccess: 1,
          signInWrong: 1,
          signUpSignIn: 1,
          emailSignIn: 1,
          reuse: 1,
          refusals: 1,
          mailsSent: 2,
          mailsFailed: 0,
          queueDepth: 0,
          createUser: 1,
        },
      );
      // Only the sign-ins that happened have a series; no URL became a label.
      assert.equal(
        samples.filter((sample) => sample.name === 'restauth_sign_ins_total').length,
        4,
        scrape.body
          .split('\n')
          .filter((line) => line.startsWith('restauth_sign_ins_total'))
          .join('\n'),
      );
      assert.doesNotMatch(scrape.body, /no\/such\/place|token=abc|mia@acme/u);
      // Process metrics (prom-client's defaults).
      assert.ok((valueOf(samples, 'process_cpu_user_seconds_total') ?? -1) >= 0);
      assert.ok((valueOf(samples, 'nodejs_heap_size_used_bytes') ?? 0) > 0);

      const pool = (state: string) => valueOf(samples, 'restauth_db_pool_connections', { state });
      if (storeKind === 'file') {
        assert.equal(pool('total'), undefined, 'no pool without PostgreSQL');
      } else {
        const [total, idle, waiting] = [pool('total'), pool('idle'), pool('waiting')];
        assert.ok(total !== undefined && total >= 1, `connections were opened (${total})`);
        assert.ok(idle !== undefined && idle >= 0 && idle <= total, `idle within total (${idle})`);
        assert.equal(waiting, 0);
      }
    });
  });
}

describe('metrics settings', () => {
  it('are off by default: /metrics is unknown and nothing is counted', async () => {
    const t = await createTestApp({ format: 'restauth' });
    try {
      assert.equal(t.services.metrics, null);
      assert.equal((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
    } finally {
      await t.close();
    }
  });

  it('with a port of their own, /metrics is served there and not on the main port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-metrics-'));
    // The test app writes the config and data files; the server is then started on them as serve would.
    const t = await createTestApp({
      format: 'restauth',
      dir,
      config: { metrics: { enabled: true, port: 0 } },
    });
    const config = await resolveJwtSecret(
      { ...t.config, port: 0, metrics: { ...t.config.metrics, port: 0 } },
      { warn() {} },
    );
    await t.close();
    const server = await startServer(config, { log: pino({ level: 'silent' }) });
    try {
      assert.ok(server.metricsUrl, 'the metrics have a URL');
      assert.notEqual(new URL(server.metricsUrl).port, new URL(server.url).port);
      const scrape = await fetch(server.metricsUrl);
      assert.equal(scrape.status, 200);
      assert.match(await scrape.text(), /^# HELP restauth_http_requests_total /mu);
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
      const other = await fetch(new URL('/other', server.metricsUrl));
      assert.equal(other.status, 404);
      // nosniff on the metrics port's answers too, as on every answer of the main port.
      for (const answer of [scrape, other])
        assert.equal(answer.headers.get('x-content-type-options'), 'nosniff');
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
