import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  linkErrorPage,
  PAGE_CSP,
  resultPage,
  verifyPage,
  type ResultKind,
  type VerifyPageType,
} from '../../src/http/pages/index.js';
import { chromiumAvailable, launchBrowser } from '../support/browser.js';

/**
 * The page functions alone, rendered with hostile values and opened in real
 * headless Chromium. setContent shows what the markup itself does (no CSP to
 * hide an escaping mistake); a tiny HTTP server adds PAGE_CSP to check the
 * policy blocks nothing the pages need and receives the forms' POSTs.
 */

/** Every value a page interpolates, made to break out of text, attributes and URLs. */
const HOSTILE = `<script>window.pwned = 1</script>"'><img src=x onerror="window.pwned = 2">`;
const APP = `Acme ${HOSTILE}`;
const ACTION = `/auth/v1/verify?token=abc"'<x>&type=recovery&redirect_to=`;

interface Posted {
  url: string;
  body: URLSearchParams;
}

describe('hosted pages in Chromium', { skip: chromiumAvailable() ?? false }, () => {
  let browser: Browser;
  let server: Server;
  let origin: string;
  /** What GET / answers next: one page per test, under PAGE_CSP. */
  let served = '';
  const posted: Posted[] = [];

  before(async () => {
    browser = await launchBrowser();
    server = createServer((request, response) => {
      void (async () => {
        if (request.method === 'POST') {
          posted.push({ url: request.url ?? '', body: new URLSearchParams(await readBody(request)) });
          response.writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            'content-security-policy': PAGE_CSP,
          });
          response.end(resultPage({ appName: 'Acme', kind: 'password_changed' }));
          return;
        }
        response.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': PAGE_CSP,
        });
        response.end(served);
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A fresh page that records script errors and CSP refusals (Chromium logs those as console errors). */
  async function open(html: string, how: 'content' | 'served'): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    // Errors and warnings only: Chromium's verbose DOM hints (a password form without a username
    // field) are advice for password managers, not faults.
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    if (how === 'content') {
      await page.setContent(html);
    } else {
      served = html;
      await page.goto(`${origin}/`);
    }
    return { page, problems };
  }

  /** Nothing from HOSTILE became markup: no script or image elements, nothing ran. */
  async function assertInert(page: Page): Promise<void> {
    assert.equal(await page.locator('script, img').count(), 0, 'no element made from interpolated text');
    // No handler can be waiting to run (the pages have no scripts of their own, so markup is all there is):
    // a sleep before looking at window.pwned could end before a late onerror and pass wrongly.
    const handlers = await page.evaluate<string[]>(
      `[...document.querySelectorAll('*')].flatMap((element) => [...element.attributes]
        .filter((attribute) => /^on/iu.test(attribute.name))
        .map((attribute) => element.localName + ' ' + attribute.name))`,
    );
    assert.deepEqual(handlers, [], 'no event handler attribute made from interpolated text');
    // The load event waits for every image of the document to load or fail (and its onerror to run).
    await page.waitForLoadState('load');
    assert.equal(await page.evaluate('window.pwned'), undefined, 'no script ran');
  }

  const h1 = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

  const BUTTON_PAGES: { type: VerifyPageType; heading: string; button: string }[] = [
    { type: 'signup', heading: 'Confirm your email address', button: 'Confirm my email' },
    { type: 'email', heading: 'Confirm your email address', button: 'Confirm my email' },
    { type: 'magiclink', heading: `Sign in to ${APP}`, button: 'Sign in' },
    { type: 'email_change', heading: 'Confirm your new email address', button: 'Confirm email change' },
    { type: 'invite', heading: `Join ${APP}`, button: 'Accept' },
  ];

  for (const { type, heading, button } of BUTTON_PAGES) {
    it(`verifyPage(${type}): heading, one button posting to the link's own URL, hostile values stay text`, async () => {
      const html = verifyPage({ appName: APP, action: ACTION, type, minPasswordLength: 8 });
      const { page, problems } = await open(html, 'content');
      assert.equal(await h1(page), heading);
      assert.equal(await page.title(), `${heading} · ${APP}`);
      assert.equal(await page.locator('html').getAttribute('lang'), 'en');
      const form = page.locator('form');
      assert.equal(await form.count(), 1);
      assert.equal(await form.getAttribute('method'), 'post');
      assert.equal(
        await form.getAttribute('action'),
        ACTION,
        'the action survives the quotes, token and all',
      );
      assert.equal(await page.getByRole('button').count(), 1);
      assert.equal(await page.getByRole('button', { name: button }).count(), 1);
      assert.equal(await page.locator('input').count(), 0, 'a button only: nothing to fill in');
      assert.equal(await page.getByRole('main').count(), 1);
      await assertInert(page);
      assert.deepEqual(problems, []);
      await page.close();
    });
  }

  it('verifyPage(recovery): two labelled password fields with the attributes a password manager needs', async () => {
    const html = verifyPage({ appName: APP, action: ACTION, type: 'recovery', minPasswordLength: 12 });
    const { page, problems } = await open(html, 'content');
    assert.equal(await h1(page), 'Set a new password');
    for (const [label, name] of [
      ['New password', 'password'],
      ['Repeat the new password', 'password_confirm'],
    ] as const) {
      const input = page.getByLabel(label, { exact: true });
      assert.equal(await input.count(), 1, `"${label}" names exactly one field`);
      assert.equal(await input.getAttribute('name'), name);
      assert.equal(await input.getAttribute('type'), 'password');
      assert.equal(await input.getAttribute('autocomplete'), 'new-password');
      assert.equal(await input.getAttribute('minlength'), '12');
      assert.equal(await input.getAttribute('required'), '');
      assert.equal(await input.getAttribute('aria-invalid'), null, 'no error yet');
    }
    assert.equal(await page.getByRole('alert').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Set new password' }).count(), 1);
    assert.equal(await page.locator('form').getAttribute('action'), ACTION);
    await assertInert(page);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('verifyPage with an error: role=alert above the form, fields marked invalid and described by it', async () => {
    const html = verifyPage({
      appName: 'Acme',
      action: ACTION,
      type: 'recovery',
      minPasswordLength: 8,
      error: `The passwords do not match ${HOSTILE}`,
    });
    const { page, problems } = await open(html, 'content');
    const alert = page.getByRole('alert');
    assert.equal(await alert.textContent(), `The passwords do not match ${HOSTILE}`);
    const alertId = await alert.getAttribute('id');
    assert.ok(alertId);
    assert.equal(
      await page.locator('[role="alert"] + form').count(),
      1,
      'the alert comes right before the form',
    );
    for (const label of ['New password', 'Repeat the new password']) {
      const input = page.getByLabel(label, { exact: true });
      assert.equal(await input.getAttribute('aria-invalid'), 'true');
      assert.equal(await input.getAttribute('aria-describedby'), alertId);
    }
    await assertInert(page);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('served with PAGE_CSP: the style applies, nothing is refused, and the form posts to the same URL with its query', async () => {
    const action = '/auth/v1/verify?token=t0k%22en&type=recovery&redirect_to=';
    const html = verifyPage({
      appName: APP,
      action,
      type: 'recovery',
      minPasswordLength: 8,
      hiddenFields: { note: `a"b<c>` },
    });
    const { page, problems } = await open(html, 'served');
    // The inline style is allowed by its hash: the card's layout is in effect.
    assert.equal(await page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth"), '416px');

    await page.getByLabel('New password', { exact: true }).fill('brand new passphrase');
    await page.getByLabel('Repeat the new password').fill('brand new passphrase');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.waitForLoadState();
    assert.equal(await h1(page), 'Your password has been changed');
    const post = posted.at(-1);
    assert.ok(post);
    assert.equal(post.url, action, 'the token travels in the query, as in the mailed link');
    assert.equal(post.body.get('password'), 'brand new passphrase');
    assert.equal(post.body.get('password_confirm'), 'brand new passphrase');
    assert.equal(post.body.get('note'), `a"b<c>`, 'hidden fields arrive as given');
    assert.deepEqual(problems, [], 'no CSP refusal, no script error');
    await page.close();
  });

  it('PAGE_CSP blocks an inline script that slipped into a page', async () => {
    const { page, problems } = await open(
      `<!doctype html><title>x</title><script>window.pwned = 3</script><p>text</p>`,
      'served',
    );
    assert.equal(await page.evaluate('window.pwned'), undefined);
    assert.ok(
      problems.some((text) => /Content Security Policy/u.test(text)),
      `Chromium reported the refusal: ${JSON.stringify(problems)}`,
    );
    await page.close();
  });

  it('on a phone-sized screen nothing scrolls sideways, and keyboard focus is outlined', async () => {
    // A long unbroken app name in the heading, and a long error: both must wrap.
    const { page } = await open(
      verifyPage({
        appName: 'A'.repeat(60),
        action: ACTION,
        type: 'magiclink',
        minPasswordLength: 8,
        error: 'B'.repeat(80),
      }),
      'served',
    );
    await page.setViewportSize({ width: 360, height: 640 });
    const overflow = 'document.documentElement.scrollWidth <= window.innerWidth';
    assert.equal(await page.evaluate(overflow), true, 'no horizontal overflow at 360px');

    served = verifyPage({ appName: 'Acme', action: ACTION, type: 'recovery', minPasswordLength: 8 });
    await page.reload();
    assert.equal(await page.evaluate(overflow), true, 'the password form fits too');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.id'), 'password', 'Tab reaches the first field');
    const outline = await page.evaluate(
      '(({ outlineStyle, outlineWidth }) => ({ outlineStyle, outlineWidth }))(getComputedStyle(document.activeElement))',
    );
    assert.deepEqual(outline, { outlineStyle: 'solid', outlineWidth: '3px' });
    await page.close();
  });

  const RESULTS: { kind: ResultKind; heading: string; text?: RegExp }[] = [
    { kind: 'email_confirmed', heading: 'Your email address is confirmed' },
    {
      kind: 'password_changed',
      heading: 'Your password has been changed',
      text: /You can now sign in with your new password\./u,
    },
    { kind: 'email_change_confirmed', heading: 'Your email address has been changed' },
    { kind: 'email_change_pending', heading: 'One more step', text: /other address/u },
    { kind: 'signed_in', heading: 'You are signed in' },
  ];

  for (const { kind, heading, text } of RESULTS) {
    it(`resultPage(${kind}): heading, text, and a continue link only when given`, async () => {
      const continueUrl = `https://app.acme.test/home?x="'<y>`;
      const { page, problems } = await open(resultPage({ appName: APP, kind, continueUrl }), 'content');
      assert.equal(await h1(page), heading);
      if (text) assert.match((await page.getByRole('main').textContent()) ?? '', text);
      const link = page.getByRole('link', { name: `Continue to ${APP}` });
      assert.equal(await link.getAttribute('href'), continueUrl);
      assert.equal(await page.locator('form, input').count(), 0);
      await assertInert(page);
      assert.deepEqual(problems, []);
      await page.close();

      const bare = await open(resultPage({ appName: APP, kind }), 'content');
      assert.equal(await bare.page.getByRole('link').count(), 0);
      await bare.page.close();
    });
  }

  it('resultPage leaves out a continue link that is not http(s) or a same-site path', async () => {
    for (const continueUrl of ['javascript:window.pwned=4', '//evil.test/', 'data:text/html,x']) {
      const { page } = await open(resultPage({ appName: 'Acme', kind: 'signed_in', continueUrl }), 'content');
      assert.equal(await page.getByRole('link').count(), 0, continueUrl);
      await page.close();
    }
    const { page } = await open(
      resultPage({ appName: 'Acme', kind: 'signed_in', continueUrl: '/app' }),
      'content',
    );
    assert.equal(await page.getByRole('link', { name: 'Continue to Acme' }).getAttribute('href'), '/app');
    await page.close();
  });

  it('linkErrorPage: expired or used, and not valid', async () => {
    const expired = await open(linkErrorPage({ appName: APP, reason: 'expired_or_used' }), 'content');
    assert.equal(await h1(expired.page), 'This link has expired or was already used');
    assert.match((await expired.page.getByRole('main').textContent()) ?? '', /ask for a new one/iu);
    await assertInert(expired.page);
    await expired.page.close();

    const invalid = await open(linkErrorPage({ appName: APP, reason: 'invalid' }), 'content');
    assert.equal(await h1(invalid.page), 'This link is not valid');
    assert.equal(await invalid.page.locator('form').count(), 0);
    await assertInert(invalid.page);
    assert.deepEqual([...expired.problems, ...invalid.problems], []);
    await invalid.page.close();
  });
});

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
