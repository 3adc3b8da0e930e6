import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { FAST_HASHING, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * Characters a reader does not see but that change what is shown (U+202E RIGHT-TO-LEFT OVERRIDE,
 * isolates, zero-width spaces, a joiner between ASCII letters, line separators, C1 controls): a
 * user name is refused with them in every dialect that takes one (json-data-server, postgrest-auth;
 * core's checkUsername), and a name stored before this rule reaches a mail's subject and text with
 * each such character written as its escape, so "nimda\u202E" never shows as "admin" to the
 * reader. GoTrue's user_metadata is stored as given (GoTrue's contract, and it reaches no mail).
 */
const PASSWORD = 'a passphrase of words';
const HIDDEN_NAMES = [
  'evil\u202Eadmin',
  'ad\u2066min',
  'ad\u200Bmin',
  'ad\u200Cmin',
  '\u200Dadmin',
  'ad\u00ADmin',
  'line\u2028break',
  'c1\u009Bcsi',
  'b\uFEFFom',
  'lone\uD800',
];

describe('hidden characters in user names', () => {
  let t: TestApp;
  let sink: SmtpSink;

  before(async () => {
    ({ t, sink } = await startMailingApp(
      {
        passwords: FAST_HASHING,
        dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
        signup: { confirmEmail: false },
        mailTemplatesDir: 'templates',
      },
      undefined,
    ));
    // A subject naming the user, as an operator's template may: the one header a user's name reaches.
    await mkdir(join(t.dir, 'templates'), { recursive: true });
    await writeFile(join(t.dir, 'templates', 'username-reminder.subject'), 'Your name is {{username}}');
  });
  after(() => stopMailingApp(t, sink));

  const post = (url: string, payload: object) => t.app.inject({ method: 'POST', url, payload });

  it('json-data-server and postgrest-auth refuse a user name with one: 400, nothing stored', async () => {
    for (const name of HIDDEN_NAMES) {
      const registered = await post('/auth/register', { username: name, password: PASSWORD });
      assert.equal(registered.statusCode, 400, `${JSON.stringify(name)}: ${registered.body}`);
      assert.match(registered.body, /User name must not contain control or invisible characters/);
      const signedUp = await post('/pg/users', { username: name, password: PASSWORD });
      assert.equal(signedUp.statusCode, 400, `${JSON.stringify(name)}: ${signedUp.body}`);
      assert.equal(await t.services.store.findUserByUsername(name), null);
    }
  });

  it('names that need a joiner or accents are kept: Persian with ZWNJ, an emoji sequence, Zoë', async () => {
    for (const name of ['\u06A9\u06CC\u200C\u0647\u0627', '\u{1F468}\u200D\u{1F469}', 'Zoë', 'José']) {
      const registered = await post('/auth/register', { username: name, password: PASSWORD });
      assert.ok(registered.statusCode < 300, `${JSON.stringify(name)}: ${registered.body}`);
    }
  });

  it('a name stored before the rule never reaches the username reminder: the address stands in for it', async () => {
    const legacy = 'nimda\u202E\u009B2J';
    await t.services.store.createUser(
      {
        username: legacy,
        email: 'legacy@acme.test',
        emailConfirmedAt: new Date(),
        role: null,
        profile: {},
        appMetadata: {},
      },
      null,
    );
    const since = sink.mails.length;
    const reminded = await post('/pg/forgot_username', { email: 'legacy@acme.test' });
    assert.equal(reminded.statusCode, 200, reminded.body);
    const mail = await sink.waitForMail(
      (candidate) => candidate.to === 'legacy@acme.test' && sink.mails.indexOf(candidate) >= since,
      5000,
    );
    // Not one plain word, so no mail prints it (docs/security.md, Names in mails).
    assert.equal(mail.subject, 'Your name is legacy@acme.test');
    assert.ok(mail.text.includes('is legacy@acme.test.'), mail.text);
    for (const part of [mail.subject, mail.text, mail.html ?? '']) {
      assert.doesNotMatch(part, /[\u202E\u009B]/u, 'no hidden character reaches the mail');
    }
  });
});
