import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * An address is stored and mailed in its login key, which case-folds as Unicode does: `straße@`
 * became `strasse@` and `admın@` (dotless ı) became `admin@`, other mailboxes than the one typed.
 * A sign-up of `straße@acme.test` mailed its confirmation to whoever owns `strasse@acme.test`,
 * who then confirmed, and later reset, an account whose password its signer chose. GoTrue refuses
 * such addresses (ASCII only); now restauth does too. Compatibility forms (full-width letters,
 * the Kelvin sign) still fold to the letters they show.
 */
describe('an address that case folding alone makes ASCII is refused', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => {
    ({ t, sink } = await startMailingApp({ dialects: { gotrue: {}, jsonDataServer: {} } }));
  });
  after(() => stopMailingApp(t, sink));

  const signUp = (email: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email, password: 'a real passphrase' },
    });

  it('straße@, admın@, STRAẞE@: 400 validation_failed, no account and no mail to the folded mailbox', async () => {
    for (const email of ['straße@acme.test', 'admın@acme.test', 'STRAẞE@acme.test', 'user@straße.test']) {
      const refused = await signUp(email);
      assert.equal(refused.statusCode, 400, `${email}: ${refused.body}`);
      assert.equal(refused.json<{ error_code: string }>().error_code, 'validation_failed');
      const registered = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: 'folded', email, password: 'a real passphrase' },
      });
      assert.equal(registered.statusCode, 400, `${email}: ${registered.body}`);
    }
    for (const folded of ['strasse@acme.test', 'admin@acme.test', 'user@strasse.test']) {
      assert.equal(await t.services.store.findUserByEmail(folded), null);
    }
    assert.equal(sink.mails.filter((mail) => /strasse|admin@/u.test(mail.to)).length, 0);
  });

  it('a whole-script look-alike address (рау@, ѕсоор@ in Cyrillic) is refused as every non-ASCII one', async () => {
    for (const email of ['\u0440\u0430\u0443@acme.test', '\u0455\u0441\u043e\u043e\u0440@acme.test']) {
      const refused = await signUp(email);
      assert.equal(refused.statusCode, 400, `${email}: ${refused.body}`);
      assert.equal(refused.json<{ error_code: string }>().error_code, 'validation_failed');
    }
  });

  it('full-width letters and the Kelvin sign are the address they show', async () => {
    const signedUp = await signUp('ｗｉｄｅ\u212A@acme.test');
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    assert.equal(signedUp.json<{ email: string }>().email, 'widek@acme.test');
  });
});
