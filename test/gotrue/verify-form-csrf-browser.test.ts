import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page, Response } from 'playwright-core';
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
import { escapeHtml } from '../../src/lib/escape-html.js';

/**
 * Login CSRF on the hosted /verify form, in real headless Chromium: an attacker's page on another
 * origin (a second HTTP server) auto-submits the form with a magic link to the attacker's own
 * account. Before, restauth took it and handed the attacker's session to the app in the victim's
 * browser; now it answers the form again (403) and spends nothing. The honest flow (open the mailed
 * link, press the button) still signs in: the page's Referrer-Policy lets Chromium send restauth's
 * own Origin with it (no-referrer made that `Origin: null`).
 */
const APP = 'https://app.acme.test/welcome';
const ATTACKER = 'mallory@acme.test';

describe(
  'the hosted /verify form refuses another site’s auto-submit (Chromium)',
  {
    skip: chromiumAvailable() ?? false,
  },
  () => {
    let t: TestApp;
    let sink: SmtpSink;
    let url: string;
    let browser: Browser;
    let attacker: Server;
    let attackerPort: number;
    /** What the attacker's server answers next: its page, and that page's Referrer-Policy. */
    let attackerPage = { html: '', referrerPolicy: 'strict-origin-when-cross-origin' };

    before(async () => {
      // Links in mails name restauth's own address (http://127.0.0.1:<port>): its port must be known first.
      ({ t, sink, url } = await onFreePortListening((port) =>
        startMailingApp({ port, oneTimeTokens: { resendInterval: 0 }, redirectAllowList: [APP] }),
      ));
      attacker = createServer((_request, response) => {
        response.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'referrer-policy': attackerPage.referrerPolicy,
        });
        response.end(attackerPage.html);
      });
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
      attackerPort = (attacker.address() as AddressInfo).port;
      browser = await launchBrowser();
      await t.services.admin.createUser(LOCAL_CALL, {
        email: ATTACKER,
        password: 'attacker passphrase',
        emailConfirm: true,
      });
    });
    after(async () => {
      await browser?.close();
      await new Promise((resolve) => attacker?.close(resolve));
      await stopMailingApp(t, sink);
    });

    const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

    /**
     * A page recording every request to the app (not running: its navigation fails, harmlessly). No
     * request interception (page.route): Chromium's intercepted requests show no Sec-Fetch-* headers.
     */
    async function victimPage(): Promise<{ page: Page; toApp: string[] }> {
      const page = await browser.newPage();
      const toApp: string[] = [];
      page.on('request', (request) => {
        if (request.url().startsWith('https://app.acme.test/')) toApp.push(request.url());
      });
      return { page, toApp };
    }

    /** The answer to the form POST that `act` leads the page to make. */
    async function postAnswer(page: Page, act: () => Promise<unknown>): Promise<Response> {
      const answered = page.waitForResponse((response) => response.request().method() === 'POST');
      await act();
      return answered;
    }

    /** The email of the account whose session a 303 to the app carries in its URL fragment. */
    async function accountOf(answer: Response): Promise<string | undefined> {
      assert.equal(answer.status(), 303);
      const location = (await answer.allHeaders())['location'] ?? '';
      const token = new URLSearchParams(new URL(location).hash.slice(1)).get('access_token');
      assert.ok(token, `a session in ${location}`);
      return (await gotrueClient(url).client.getUser(token)).data.user?.email;
    }

    it('the honest flow: the mailed link, its button; Chromium sends restauth’s own Origin, and the app gets the session', async () => {
      const email = 'vic@acme.test';
      await t.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'old passphrase!',
        emailConfirm: true,
      });
      const since = sink.mails.length;
      await gotrueClient(url).client.signInWithOtp({ email, options: { emailRedirectTo: APP } });
      const link = secretsOf(await nextMail(sink, email, since)).link;

      const { page } = await victimPage();
      await page.goto(link);
      const answer = await postAnswer(page, () => page.getByRole('button', { name: 'Sign in' }).click());
      const sent = await answer.request().allHeaders();
      assert.equal(sent['origin'], new URL(link).origin, 'not "null": the page sends its own origin');
      assert.equal(sent['sec-fetch-site'], 'same-origin');
      assert.equal(await accountOf(answer), email);
      await page.close();
    });

    const attacks: Array<{ name: string; host: string; referrerPolicy: string }> = [
      { name: 'another site', host: 'localhost', referrerPolicy: 'strict-origin-when-cross-origin' },
      {
        name: 'another site sending Origin: null (no-referrer)',
        host: 'localhost',
        referrerPolicy: 'no-referrer',
      },
      {
        name: 'the same site on another port',
        host: '127.0.0.1',
        referrerPolicy: 'strict-origin-when-cross-origin',
      },
    ];
    for (const attack of attacks) {
      it(`a page of ${attack.name} auto-submitting the form with the attacker's link is refused; the browser is not signed in; the link is not spent`, async () => {
        const { link } = await t.services.admin.generateLink(LOCAL_CALL, {
          type: 'magiclink',
          email: ATTACKER,
          redirectTo: APP,
        });
        assert.ok(link !== null);
        attackerPage = {
          html: `<!doctype html><title>cute cats</title>
<form method="post" action="${escapeHtml(link)}"></form>
<script>document.forms[0].submit()</script>`,
          referrerPolicy: attack.referrerPolicy,
        };
        const { page, toApp } = await victimPage();
        const answer = await postAnswer(page, () => page.goto(`http://${attack.host}:${attackerPort}/`));
        await page.waitForLoadState();
        const sent = await answer.request().allHeaders();
        assert.notEqual(sent['sec-fetch-site'], undefined, 'the browser says where the form came from');
        assert.notEqual(sent['sec-fetch-site'], 'same-origin');
        assert.equal(answer.status(), 403);
        assert.equal(new URL(page.url()).origin, new URL(link).origin, 'the form is shown at restauth');
        assert.match((await heading(page)) ?? '', /^Sign in to /u, 'the form again');
        assert.match((await page.getByRole('alert').textContent()) ?? '', /came from another site/u);
        assert.deepEqual(toApp, [], 'no session was handed to the app in this browser');
        await page.close();

        // The attacker's link was not spent: the refusal did nothing at all.
        const { page: own } = await victimPage();
        await own.goto(link);
        const honest = await postAnswer(own, () => own.getByRole('button', { name: 'Sign in' }).click());
        assert.equal(await accountOf(honest), ATTACKER);
        await own.close();
      });
    }
  },
);
