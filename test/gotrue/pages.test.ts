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
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * The hosted pages in a real headless Chromium: links from real mails,
 * forms submitted as a person would, then a sign-in with the result.
 */
describe('hosted pages in Chromium', { skip: chromiumAvailable() ?? false }, () => {
  let t: TestApp;
  let sink: SmtpSink;
  let url: string;
  let browser: Browser;

  before(async () => {
    // Links in mails name restauth's own address: its port must be known before it starts.
    ({ t, sink, url } = await onFreePortListening((port) =>
      startMailingApp({
        port,
        appName: 'Acme <Notes>',
        oneTimeTokens: { resendInterval: 0 },
        redirectAllowList: ['https://app.acme.test/*', 'io.supabase.flutterquickstart://login-callback/'],
      }),
    ));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser.close();
    await stopMailingApp(t, sink);
  });

  /** Fills the hosted set-password form as a person would and submits it. */
  async function submitPasswords(page: Page, password: string, confirm = password): Promise<void> {
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('Repeat the new password').fill(confirm);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.waitForLoadState();
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();
  const SPENT = 'This link has expired or was already used';

  async function mailedLink(email: string, send: () => Promise<unknown>): Promise<string> {
    const since = sink.mails.length;
    await send();
    return secretsOf(await nextMail(sink, email, since)).link;
  }

  it('a confirmation link opens a page that changes nothing; its button confirms; a second use shows a clear page', async () => {
    const { client } = gotrueClient(url);
    const link = await mailedLink('kim@acme.test', () =>
      client.signUp({ email: 'kim@acme.test', password: 'correct horse battery' }),
    );
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused/u.test(message.text())) errors.push(message.text());
    });

    const opened = await page.goto(link);
    assert.equal(opened?.status(), 200);
    assert.equal(await heading(page), 'Confirm your email address');
    assert.match(await page.title(), /Acme <Notes>/u, 'the app name is shown as text, escaped');
    const early = await client.signInWithPassword({
      email: 'kim@acme.test',
      password: 'correct horse battery',
    });
    assert.equal(early.error?.code, 'email_not_confirmed', 'opening the link confirmed nothing');

    await page.getByRole('button', { name: 'Confirm my email' }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Your email address is confirmed');
    const signIn = await client.signInWithPassword({
      email: 'kim@acme.test',
      password: 'correct horse battery',
    });
    assert.equal(signIn.error, null);

    await page.goto(link);
    await page.getByRole('button', { name: 'Confirm my email' }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), SPENT);
    assert.deepEqual(errors, [], 'no script errors and nothing blocked by the CSP');
    await page.close();
  });

  it('a recovery link sets a new password through the form; mismatches are announced; the new password signs in', async () => {
    const { client } = gotrueClient(url);
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'lou@acme.test',
      password: 'old passphrase!',
      emailConfirm: true,
    });
    const link = await mailedLink('lou@acme.test', () => client.resetPasswordForEmail('lou@acme.test'));
    const page = await browser.newPage();
    await page.goto(link);
    assert.equal(await heading(page), 'Set a new password');

    await submitPasswords(page, 'brand new passphrase', 'something else entirely');
    assert.equal(await page.getByRole('alert').textContent(), 'The passwords do not match');
    assert.equal(await page.getByLabel('New password', { exact: true }).getAttribute('aria-invalid'), 'true');

    await submitPasswords(page, 'brand new passphrase');
    assert.equal(await heading(page), 'Your password has been changed');

    const signIn = await client.signInWithPassword({
      email: 'lou@acme.test',
      password: 'brand new passphrase',
    });
    assert.equal(signIn.error, null);
    const old = await client.signInWithPassword({ email: 'lou@acme.test', password: 'old passphrase!' });
    assert.equal(old.error?.code, 'invalid_credentials');

    await page.goto(link);
    await submitPasswords(page, 'another passphrase');
    assert.equal(await heading(page), SPENT);
    await page.close();
  });

  it('an expired link shows the expired page', async () => {
    const { client } = gotrueClient(url);
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'max@acme.test',
      password: 'old passphrase!',
      emailConfirm: true,
    });
    const link = await mailedLink('max@acme.test', () => client.resetPasswordForEmail('max@acme.test'));
    t.advance(2 * 3600_000);
    const page = await browser.newPage();
    await page.goto(link);
    await submitPasswords(page, 'brand new passphrase');
    assert.equal(await heading(page), SPENT);
    await page.close();
  });

  /** The magic link mailed to a new confirmed account at `email`, asked by supabase-js for `redirectTo`. */
  async function magicLinkTo(email: string, redirectTo: string): Promise<string> {
    await t.services.admin.createUser(LOCAL_CALL, { email, password: 'old passphrase!', emailConfirm: true });
    const { client } = gotrueClient(url);
    return mailedLink(email, () => client.signInWithOtp({ email, options: { emailRedirectTo: redirectTo } }));
  }

  it('with an allowed redirect_to, the button hands the session to the app in the URL fragment', async () => {
    const link = await magicLinkTo('ned@acme.test', 'https://app.acme.test/welcome');
    assert.match(link, /redirect_to=https%3A%2F%2Fapp\.acme\.test%2Fwelcome/u);
    const page = await browser.newPage();
    // The app is not running: catch the navigation to it instead of loading it.
    let landed = '';
    await page.route('https://app.acme.test/**', async (route) => {
      landed = route.request().url();
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<title>app</title>' });
    });
    await page.goto(link);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/^https:\/\/app\.acme\.test\//u);
    const fragment = new URLSearchParams(new URL(page.url()).hash.slice(1));
    assert.ok(landed.startsWith('https://app.acme.test/welcome'));
    const user = await gotrueClient(url).client.getUser(fragment.get('access_token')!);
    assert.equal(user.data.user?.email, 'ned@acme.test');
    assert.equal(fragment.get('type'), 'magiclink');

    const tampered = link.replace(/redirect_to=[^&]+/u, 'redirect_to=https%3A%2F%2Fevil.test%2F');
    const refused = await page.goto(tampered);
    assert.equal(refused?.status(), 400);
    assert.equal(await heading(page), 'This link is not valid');
    await page.close();
  });

  it("with a listed mobile deep link, the button's 303 leads Chromium to the app's scheme, not blocked by the page's CSP", async () => {
    const link = await magicLinkTo('flutter@acme.test', 'io.supabase.flutterquickstart://login-callback/');
    const page = await browser.newPage();
    await page.goto(link);
    // No app handles the scheme here: the navigation to it fails, after the CSP let it go. A CSP
    // naming no such source (a custom scheme's origin is "null") fails the form's own POST instead.
    const failed = page.waitForEvent('requestfailed');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await failed).url(), 'io.supabase.flutterquickstart://login-callback/');
    await page.close();
  });
});
