import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { CODE_MISS_WINDOW_MS, MAX_ADDRESS_CODE_MISSES } from '../../src/core/one-time-tokens.js';

/**
 * Attacks on the mailed 6-digit codes: a code is not a link, however it is
 * presented, and guessing one ends with the token dead, not with a session.
 */
const PREFIX = '/auth/v1';
type Json = Record<string, unknown>;

/**
 * A code as a link secret: before codes were kept apart, a link's token was looked up by its SHA-256
 * among link and code hashes alike, and a code's hash was SHA-256 of this string, which anyone can
 * write from an address and a guess.
 */
const codeAsLink = (email: string, purpose: string, code: string) => `${email}\n${purpose}\n${code}`;

/** Codes other than `code`, as an attacker would try them. */
const wrongCodes = (code: string, count: number) =>
  Array.from({ length: count + 1 }, (_, i) =>
    String((Number(code) + 1 + i * 7919) % 1_000_000).padStart(6, '0'),
  )
    .filter((guess) => guess !== code)
    .slice(0, count);

describe('GoTrue dialect: a mailed code cannot be brute-forced', () => {
  let t: TestApp;
  let sink: SmtpSink;

  before(async () => {
    ({ t, sink } = await startMailingApp(
      // Each client may verify 4 times a window: the attacker spreads guesses over many clients.
      { rateLimits: { verify: { max: 4, window: 60 } } },
      { RESTAUTH_RATE_LIMITS: '' },
      // The window ends only if the test advances the clock, not when a slow machine takes 60 s.
      { clockStoppedAt: Date.now() },
    ));
  });
  after(() => stopMailingApp(t, sink));

  async function recoveryCode(email: string): Promise<string> {
    await t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const since = sink.mails.length;
    const asked = await t.app.inject({ method: 'POST', url: `${PREFIX}/recover`, payload: { email } });
    assert.equal(asked.statusCode, 200);
    const mail = await sink.waitForMail((m) => m.to === email && sink.mails.indexOf(m) >= since, 5000);
    return secretsOf(mail).code;
  }

  it('a code sent as a link’s token_hash, from many clients, by JSON and by the hosted form, verifies nothing', async () => {
    const email = 'victim@acme.test';
    const code = await recoveryCode(email);
    // The attacker's guesses, the right one among them, each from a client of its own.
    const guesses = [...wrongCodes(code, 20), code];
    const answers: number[] = [];
    for (const [i, guess] of guesses.entries()) {
      const json = await t.app.inject({
        method: 'POST',
        url: `${PREFIX}/verify`,
        payload: { type: 'recovery', token_hash: codeAsLink(email, 'recovery', guess) },
        remoteAddress: `10.1.0.${i}`,
      });
      answers.push(json.statusCode);
      const form = await t.app.inject({
        method: 'POST',
        url: `${PREFIX}/verify?type=recovery&token=${encodeURIComponent(codeAsLink(email, 'recovery', guess))}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'password=attacker+passphrase&password_confirm=attacker+passphrase',
        remoteAddress: `10.2.0.${i}`,
      });
      answers.push(form.statusCode);
    }
    assert.deepEqual(new Set(answers), new Set([403]), 'no guess verified, the right code neither');
    // The plain code as a token_hash is no link either.
    const plain = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/verify`,
      payload: { type: 'recovery', token_hash: code },
      remoteAddress: '10.3.0.1',
    });
    assert.equal(plain.statusCode, 403);
    // The password is unchanged, and the owner's code still works: link lookups never touch codes.
    const signIn = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/token?grant_type=password`,
      payload: { email, password: 'attacker passphrase' },
      remoteAddress: '10.3.0.2',
    });
    assert.equal(signIn.statusCode, 400);
    const owner = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/verify`,
      payload: { type: 'recovery', email, token: code },
      remoteAddress: '10.3.0.3',
    });
    assert.equal(owner.statusCode, 200, owner.body);
  });
});

describe('GoTrue dialect: a token counts the wrong codes typed for it', () => {
  let t: TestApp;
  let sink: SmtpSink;

  // Rate limits off: the token's own count must stop the guessing.
  before(async () => ({ t, sink } = await startMailingApp()));
  after(() => stopMailingApp(t, sink));

  it('five wrong codes kill the code: the right code then fails, from any client; the link lives on', async () => {
    const email = 'guessed@acme.test';
    const since = sink.mails.length;
    await t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'a long passphrase',
      emailConfirm: true,
    });
    await t.app.inject({ method: 'POST', url: `${PREFIX}/otp`, payload: { email, create_user: false } });
    const mail = await sink.waitForMail((m) => m.to === email && sink.mails.indexOf(m) >= since, 5000);
    const { code, link } = secretsOf(mail);
    const verify = (token: string, client: string) =>
      t.app.inject({
        method: 'POST',
        url: `${PREFIX}/verify`,
        payload: { type: 'magiclink', email, token },
        remoteAddress: client,
      });
    for (const [i, guess] of wrongCodes(code, 5).entries()) {
      const wrong = await verify(guess, `10.4.${i}.1`);
      assert.deepEqual(
        [wrong.statusCode, (JSON.parse(wrong.body) as Json)['error_code']],
        [403, 'otp_expired'],
      );
    }
    assert.equal((await verify(code, '10.5.0.1')).statusCode, 403, 'the right code, too late');
    const token = new URL(link).searchParams.get('token')!;
    const byLink = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/verify`,
      payload: { type: 'magiclink', token_hash: token },
      remoteAddress: '10.5.0.2',
    });
    // The link is no code to guess: a stranger's wrong codes must not spend the owner's mail.
    assert.equal(byLink.statusCode, 200, byLink.body);
  });

  it('four wrong codes leave the token alive: the owner’s typo is forgiven', async () => {
    const email = 'typo@acme.test';
    await t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const since = sink.mails.length;
    await t.app.inject({ method: 'POST', url: `${PREFIX}/recover`, payload: { email } });
    const { code } = secretsOf(
      await sink.waitForMail((m) => m.to === email && sink.mails.indexOf(m) >= since, 5000),
    );
    for (const [i, guess] of wrongCodes(code, 4).entries()) {
      const wrong = await t.app.inject({
        method: 'POST',
        url: `${PREFIX}/verify`,
        payload: { type: 'recovery', email, token: guess },
        remoteAddress: `10.6.${i}.1`,
      });
      assert.equal(wrong.statusCode, 403);
    }
    const right = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/verify`,
      payload: { type: 'recovery', email, token: code },
      remoteAddress: '10.7.0.1',
    });
    assert.equal(right.statusCode, 200, right.body);
  });
});

describe('GoTrue dialect: an address’s wrong codes are counted across its mails', () => {
  let t: TestApp;
  let sink: SmtpSink;

  // Rate limits off: only the address's own count may stop the guessing.
  before(async () => ({ t, sink } = await startMailingApp()));
  after(() => stopMailingApp(t, sink));

  /** A magic link's code and link mailed to `email` now. */
  async function mailed(email: string): Promise<{ code: string; link: string }> {
    const since = sink.mails.length;
    const asked = await t.app.inject({ method: 'POST', url: `${PREFIX}/otp`, payload: { email } });
    assert.equal(asked.statusCode, 200, asked.body);
    return secretsOf(await sink.waitForMail((m) => m.to === email && sink.mails.indexOf(m) >= since, 5000));
  }

  const verify = (email: string, token: string, client: string) =>
    t.app.inject({
      method: 'POST',
      url: `${PREFIX}/verify`,
      payload: { type: 'magiclink', email, token },
      remoteAddress: client,
    });

  it(`past ${MAX_ADDRESS_CODE_MISSES} wrong codes a day, no code to the address works, a new mail’s neither; its link does`, async () => {
    const email = 'asked-each-minute@acme.test';
    await t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'a long passphrase',
      emailConfirm: true,
    });
    // Each new mail's token starts its own five again: before, asking once a minute gave five
    // guesses a minute without end.
    for (let round = 0; round * 5 < MAX_ADDRESS_CODE_MISSES; round++) {
      const { code } = await mailed(email);
      for (const [i, guess] of wrongCodes(code, 5).entries())
        assert.equal((await verify(email, guess, `10.8.${round}.${i}`)).statusCode, 403);
      t.advance(61_000);
    }
    const { code, link } = await mailed(email);
    const right = await verify(email, code, '10.9.0.1');
    assert.deepEqual([right.statusCode, right.json<Json>()['error_code']], [403, 'otp_expired']);
    const byLink = await t.app.inject({
      method: 'POST',
      url: `${PREFIX}/verify`,
      payload: { type: 'magiclink', token_hash: new URL(link).searchParams.get('token') },
      remoteAddress: '10.9.0.2',
    });
    assert.equal(byLink.statusCode, 200, byLink.body);

    // Another address's codes are untouched, and a day later this one's work again.
    const other = 'other@acme.test';
    await t.services.admin.createUser(LOCAL_CALL, {
      email: other,
      password: 'a long passphrase',
      emailConfirm: true,
    });
    assert.equal((await verify(other, (await mailed(other)).code, '10.9.0.3')).statusCode, 200);
    t.advance(CODE_MISS_WINDOW_MS);
    assert.equal((await verify(email, (await mailed(email)).code, '10.9.0.4')).statusCode, 200);
  });
});
