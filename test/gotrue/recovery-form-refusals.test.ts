import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { TestApp } from '../support/app.js';
import { chromiumAvailable, launchBrowser } from '../support/browser.js';
import {
  gotrueClient,
  nextMail,
  onFreePortListening,
  secretsOf,
  startMailingApp,
  stopMailingApp,
} from '../support/gotrue.js';
import { verifiedTotpFactor } from '../support/mfa-factors.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * The hosted recovery form, refused: the link must stay usable and the page come back with the
 * reason, so the person can fix what was wrong and submit again. A user with a verified MFA factor
 * (an adopted GoTrue database's) was refused after the link was spent, and answered in JSON: the
 * browser showed a JSON body, and once the operator had deleted the factor the link was dead. Now
 * the form comes back (403, the reason shown) and the same link sets the password after the factor
 * is gone. A password the policy refuses is answered so too. Real PostgreSQL, real SMTP, headless
 * Chromium filling the form as a person would.
 */
describe(
  'the hosted recovery form, refused, keeps its link (postgres store, Chromium)',
  {
    skip: chromiumAvailable() ?? false,
  },
  () => {
    let t: TestApp;
    let sink: SmtpSink;
    let url: string;
    let browser: Browser;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore('postgres');
      // Links in mails name restauth's own address: its port must be known before it starts.
      ({ t, sink, url } = await onFreePortListening((port) =>
        startMailingApp({ ...store.config, port, oneTimeTokens: { resendInterval: 0 } }),
      ));
      browser = await launchBrowser();
    });
    after(async () => {
      await browser.close();
      await stopMailingApp(t, sink);
      await store.drop();
    });

    async function submitPasswords(page: Page, password: string): Promise<void> {
      await page.getByLabel('New password', { exact: true }).fill(password);
      await page.getByLabel('Repeat the new password').fill(password);
      await page.getByRole('button', { name: 'Set new password' }).click();
      await page.waitForLoadState();
    }
    const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

    async function recoveryLink(email: string): Promise<string> {
      const since = sink.mails.length;
      assert.equal((await gotrueClient(url).client.resetPasswordForEmail(email)).error, null);
      return secretsOf(await nextMail(sink, email, since)).link;
    }

    it('a user with a verified MFA factor: the form comes back with the reason; after the factor is deleted, the same link sets the password', async () => {
      const email = 'mona@acme.test';
      const user = await t.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'old passphrase!',
        emailConfirm: true,
      });
      const factorId = await verifiedTotpFactor(store.config, user.id);
      const link = await recoveryLink(email);
      const page = await browser.newPage();
      await page.goto(link);
      assert.equal(await heading(page), 'Set a new password');

      const refused = page.waitForResponse((response) => response.request().method() === 'POST');
      await submitPasswords(page, 'brand new passphrase');
      const answer = await refused;
      assert.equal(answer.status(), 403);
      assert.match(answer.headers()['content-type'] ?? '', /^text\/html/u);
      assert.equal(await heading(page), 'Set a new password');
      assert.match((await page.getByRole('alert').textContent()) ?? '', /MFA/u);

      await t.services.admin.deleteFactor(LOCAL_CALL, user.id, factorId);
      await submitPasswords(page, 'brand new passphrase');
      assert.equal(await heading(page), 'Your password has been changed');
      const signIn = await gotrueClient(url).client.signInWithPassword({
        email,
        password: 'brand new passphrase',
      });
      assert.equal(signIn.error, null);
      await page.close();
    });

    it('a password the policy refuses: the form comes back with the reason, and the link still works', async () => {
      const email = 'otto@acme.test';
      await t.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'old passphrase!',
        emailConfirm: true,
      });
      const link = await recoveryLink(email);
      const page = await browser.newPage();
      await page.goto(link);
      // Longer than passwords.maxLength (1024): the browser's own checks (minlength) let it through.
      await submitPasswords(page, 'x'.repeat(1025));
      assert.equal(await heading(page), 'Set a new password');
      assert.match((await page.getByRole('alert').textContent()) ?? '', /at most 1024 characters/u);
      await submitPasswords(page, 'a long enough passphrase');
      assert.equal(await heading(page), 'Your password has been changed');
      await page.close();
    });
  },
);
