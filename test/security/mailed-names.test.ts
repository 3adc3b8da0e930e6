import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SinkMail, SmtpSink } from '../support/smtp-sink.js';

/**
 * A user name is chosen by whoever signs up, and mails go to addresses nobody proved (sign-ups
 * confirmed at once, a username reminder anyone may ask, an email change's new address). A name
 * written as a message ("Your account is locked, call ...", a link) reached the victim inside the
 * app's own welcome, reminder, reset and email-change mails. Now a mail prints a name only when it
 * is one plain word; any other name is left out and the account is named by its address.
 */

const PASSWORD = 'a real passphrase';
const MESSAGES = [
  'Your account is locked call 555 0100',
  'verify-at-evil.example',
  'https://evil.example/login',
  'x'.repeat(33),
];

function mentions(mail: SinkMail, text: string): boolean {
  return mail.subject.includes(text) || mail.text.includes(text) || mail.html.includes(text);
}

describe('a user name that reads as a message is not printed in mails', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => {
    ({ t, sink } = await startMailingApp({
      signup: { confirmEmail: false },
      dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: {} },
    }));
  });
  after(() => stopMailingApp(t, sink));

  const post = (url: string, payload: Record<string, unknown>, token?: string) =>
    t.app.inject({
      method: url.startsWith('/auth/v1/user') ? 'PUT' : 'POST',
      url,
      payload,
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });

  for (const [index, message] of MESSAGES.entries()) {
    it(`welcome, reminder and reset mails leave out ${JSON.stringify(message)}`, async () => {
      const victim = `victim${index}@example.com`;
      const registered = await post('/auth/register', {
        username: message,
        email: victim,
        password: PASSWORD,
      });
      assert.equal(registered.statusCode, 200, registered.body);
      const welcome = await sink.waitForMail((m) => m.to === victim && /Welcome/u.test(m.subject), 5000);
      assert.ok(!mentions(welcome, message), welcome.text);
      assert.match(welcome.text, new RegExp(`Your username is ${victim}`, 'u'));

      assert.equal((await post('/auth/forgot_username', { email: victim })).statusCode, 200);
      const reminder = await sink.waitForMail((m) => m.to === victim && /username/u.test(m.subject), 5000);
      assert.ok(!mentions(reminder, message), reminder.text);

      assert.equal((await post('/auth/forgot_password', { username: victim })).statusCode, 200);
      const reset = await sink.waitForMail((m) => m.to === victim && /Reset/u.test(m.subject), 5000);
      assert.ok(!mentions(reset, message), reset.text);

      // What the mail names the account by signs in.
      const signIn = await post('/auth/login', { username: victim, password: PASSWORD });
      assert.equal(signIn.statusCode, 200, signIn.body);
    });
  }

  it("an email change's mail to the new address leaves the name out", async () => {
    const message = 'Call 555 0100 now';
    const signUp = await post('/auth/register', {
      username: message,
      email: 'squat@example.com',
      password: PASSWORD,
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    const signIn = await post('/auth/v1/token?grant_type=password', {
      email: 'squat@example.com',
      password: PASSWORD,
    });
    assert.equal(signIn.statusCode, 200, signIn.body);
    const token = (signIn.json() as { access_token: string }).access_token;
    const change = await post('/auth/v1/user', { email: 'target@example.com' }, token);
    assert.equal(change.statusCode, 200, change.body);
    const toNew = await sink.waitForMail((m) => m.to === 'target@example.com', 5000);
    assert.ok(!mentions(toNew, message), toNew.text);
  });

  it('a plain name, in any script, is still printed', async () => {
    for (const name of ['Theorist1', 'zoë_van-dijk', 'Ηρακλής']) {
      const email = `${name.length}-${name.charCodeAt(0)}@example.com`;
      const registered = await post('/auth/register', { username: name, email, password: PASSWORD });
      assert.equal(registered.statusCode, 200, registered.body);
      const welcome = await sink.waitForMail((m) => m.to === email && /Welcome/u.test(m.subject), 5000);
      assert.match(welcome.text, new RegExp(`Your username is ${name}\\.`, 'u'));
    }
  });
});
