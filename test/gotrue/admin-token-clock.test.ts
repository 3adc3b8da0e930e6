import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKey } from '../../src/cli/keys.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * The GoTrue routes judge by the app's clock, as every token check does: the admin routes' role
 * token and the published keys' retirement read the wall clock, so with a clock that is not the
 * wall's (an injected one, tests) a role token that clock had just signed was refused, one it counted
 * as expired honoured, and a key it still verified with was missing from /.well-known/jwks.json.
 */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const HOUR = 3600_000;

describe("GoTrue: role tokens and published keys by the app's clock", () => {
  let t: TestApp;
  before(async () => {
    const current = await generateKey('EdDSA', 'current');
    const old = await generateKey('EdDSA', 'old');
    // Retires a day after the app's clock: long past by the wall clock this test runs at.
    const retiring = { ...old.configEntry, retireAt: new Date(NOW + 24 * HOUR).toISOString() };
    t = await createTestApp({
      format: 'restauth',
      clockStoppedAt: NOW,
      config: { jwt: { keys: [current.configEntry, retiring], signingKeyId: 'current' } },
    });
  });
  after(() => t.close());

  async function listUsers(token: string) {
    const res = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/admin/users',
      headers: { authorization: `Bearer ${token}` },
    });
    return res.statusCode;
  }

  async function publishedKids(): Promise<string[]> {
    const res = await t.app.inject({ method: 'GET', url: '/auth/v1/.well-known/jwks.json' });
    return (res.json() as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid).sort();
  }

  it('a service-role token: honoured while the clock says it lives, 403 once the clock passes its end', async () => {
    const token = await t.services.tokens.signRoleToken('service_role', 600, new Date(NOW));
    assert.equal(await listUsers(token), 200);
    // Well past its end and any leeway for clock skew between servers.
    t.advance(2 * HOUR);
    assert.equal(await listUsers(token), 403);
  });

  it('a retiring key is published until the clock reaches its retirement', async () => {
    assert.deepEqual(await publishedKids(), ['current', 'old']);
    t.advance(25 * HOUR);
    assert.deepEqual(await publishedKids(), ['current']);
  });
});

describe("GoTrue: a sign-up's confirmation_sent_at by the app's clock", () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => {
    ({ t, sink } = await startMailingApp({ signup: { confirmEmail: true } }, undefined, {
      clockStoppedAt: NOW,
    }));
  });
  after(() => stopMailingApp(t, sink));

  it('is the time the app mailed it, as the stored user says', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'sent@acme.test', password: 'a long passphrase' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(
      res.json<{ confirmation_sent_at: string }>().confirmation_sent_at,
      new Date(NOW).toISOString(),
    );
  });
});
