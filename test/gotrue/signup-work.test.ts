import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * With confirmation on, a sign-up for a taken address answers like one for a new address, and must
 * not be told apart by its time either (it was: medians 59-137 ms new against 39-45 ms taken). What
 * decides the time is checked here by the WORK each does, deterministically: one password hash each
 * (counted at the hasher), no verification, and the mail (new or unconfirmed address) sent after the
 * answer, never before it (the SMTP server's reply is held until the answer has come). The answers
 * have one status, one set of headers and one body shape, but for GoTrue's empty `identities` of a
 * look-alike. bench/signup-timing.ts prints the times.
 */

const password = 'a long passphrase';

/** The same keys, at every level: a look-alike must not lack or add one. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value === null || typeof value !== 'object') return value === null ? 'null' : typeof value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, item]) => [key, shape(item)]),
  );
}

/** Headers whose values differ by nature (the body's length with the address's, the date). */
const VARYING = new Set(['content-length', 'date']);
function headersOf(res: LightMyRequestResponse): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(res.headers)
      .filter(([name]) => !VARYING.has(name))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

describe('GoTrue sign-up: a taken address does the work of a new one', { timeout: 60_000 }, () => {
  let t: TestApp;
  let sink: SmtpSink;
  const work = { hashes: 0, verifications: 0 };
  before(async () => {
    ({ t, sink } = await startMailingApp({ dialects: { gotrue: { enabled: true } } }));
    // Counted on the services' own hasher (the one AuthService holds), which still hashes for real.
    const hasher = t.services.hasher;
    const hash = hasher.hash.bind(hasher);
    const verify = hasher.verify.bind(hasher);
    hasher.hash = (plain) => {
      work.hashes++;
      return hash(plain);
    };
    hasher.verify = (plain, stored) => {
      work.verifications++;
      return verify(plain, stored);
    };
  });
  after(() => stopMailingApp(t, sink));

  /**
   * Signs up `email` while the SMTP server holds its reply to the next mail, and returns the answer,
   * the work counted for it, and the mails it sent once everything settled.
   */
  const signUp = async (email: string, mailExpected: boolean) => {
    await t.services.idle();
    const before = { ...work, mails: sink.mails.length };
    const hold = mailExpected ? sink.holdNextReply() : null;
    const res = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: { email, password } });
    const counted = {
      hashes: work.hashes - before.hashes,
      verifications: work.verifications - before.verifications,
    };
    if (hold) {
      // The answer came while the mail's delivery was still held: the mail is no part of its time.
      const mail = await hold.received;
      assert.equal(mail.to, email);
      hold.release();
    }
    await t.services.idle();
    const mails = sink.mails.slice(before.mails).filter((mail) => mail.to === email);
    return { res, counted, mails };
  };

  it('new, taken unconfirmed and taken confirmed: one hash each, no verification, one answer shape', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'confirmed@acme.test',
      password,
      emailConfirm: true,
    });
    // A first sign-up compiles the route's schema and code paths; it is also the unconfirmed account.
    const first = await signUp('pending@acme.test', true);
    assert.equal(first.res.statusCode, 200, first.res.body);

    const fresh = await signUp('new@acme.test', true);
    // Past the resend interval (60 s), which throttles a second confirmation mail to one address.
    t.advance(61_000);
    const pending = await signUp('pending@acme.test', true);
    const confirmed = await signUp('confirmed@acme.test', false);

    for (const [name, run] of Object.entries({ fresh, pending, confirmed })) {
      assert.equal(run.res.statusCode, 200, `${name}: ${run.res.body}`);
      assert.deepEqual(run.counted, { hashes: 1, verifications: 0 }, name);
    }
    // The confirmation mail: to a new address, and again to an address still unconfirmed (GoTrue's
    // resend); none to a confirmed account, whose owner did not ask (GoTrue sends none either).
    assert.equal(fresh.mails.length, 1);
    assert.equal(pending.mails.length, 1);
    assert.equal(confirmed.mails.length, 0);
    assert.equal(fresh.mails[0]!.subject, pending.mails[0]!.subject);

    // One shape but for identities, which GoTrue's look-alike lists empty (sanitizeUser: the mark
    // Supabase documents for "already registered"); a new account lists its email identity.
    const bodies = [fresh, pending, confirmed].map(({ res }) => res.json<{ identities: unknown[] }>());
    assert.equal(bodies[0]!.identities.length, 1);
    for (const body of bodies.slice(1)) assert.deepEqual(body.identities, []);
    const withoutIdentities = ({ identities: _identities, ...rest }: { identities: unknown[] }) => rest;
    for (const body of bodies.slice(1))
      assert.deepEqual(shape(withoutIdentities(body)), shape(withoutIdentities(bodies[0]!)));
    for (const { res } of [pending, confirmed]) assert.deepEqual(headersOf(res), headersOf(fresh.res));
  });
});
