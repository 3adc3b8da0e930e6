import assert from 'node:assert/strict';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TestApp } from '../support/app.js';
import { chromiumAvailable, launchBrowser } from '../support/browser.js';
import {
  nextMail,
  onFreePortListening,
  secretsOf,
  startMailingApp,
  stopMailingApp,
} from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { ssrServer } from '../support/ssr-app.js';

/**
 * A server-rendered app as @supabase/ssr makes one (what Next.js, SvelteKit and Remix apps do):
 * the unmodified createServerClient keeps the PKCE verifier and then the session in cookies. In
 * headless Chromium a visitor signs up through the app's form, opens the mailed link (restauth's
 * page, its button), lands on the app's /auth/callback?code=..., where the server calls
 * exchangeCodeForSession, and sees their account page, which the server renders after getUser.
 * Before PKCE, restauth answered the sign-up 400 not_supported.
 */
const skip = chromiumAvailable() ?? false;

/** The app: a sign-up form, the callback that exchanges the code, and a page only a session opens. */

function ssrApp(supabaseUrl: string): Server {
  return ssrServer(supabaseUrl, async ({ request, url, supabase, send }) => {
    if (url.pathname === '/' && request.method === 'GET') {
      return send(
        200,
        `<form method="post" action="/signup"><input name="email"><input name="password" type="password"><button>Sign up</button></form>`,
      );
    }
    if (url.pathname === '/signup' && request.method === 'POST') {
      const form = new URLSearchParams(await bodyOf(request));
      const { error } = await supabase.auth.signUp({
        email: form.get('email') ?? '',
        password: form.get('password') ?? '',
        options: { emailRedirectTo: `${url.origin}/auth/callback` },
      });
      return send(
        error ? 400 : 200,
        `<p id="result">${error ? `error: ${error.code}` : 'Check your mail'}</p>`,
      );
    }
    if (url.pathname === '/auth/callback') {
      const { error } = await supabase.auth.exchangeCodeForSession(url.searchParams.get('code') ?? '');
      if (error) return send(400, `<p id="result">error: ${error.code ?? error.message}</p>`);
      return send(303, '', { location: '/account' });
    }
    if (url.pathname === '/account') {
      const { data, error } = await supabase.auth.getUser();
      if (error || !data.user) return send(401, '<p id="result">signed out</p>');
      return send(200, `<p id="result">signed in as ${data.user.email}</p>`);
    }
    return send(404, 'not found');
  });
}

function bodyOf(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

describe('@supabase/ssr server app with cookies, in Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser.close());

  for (const storeKind of ['file', 'postgres'] as const) {
    describe(`${storeKind} store`, () => {
      let t: TestApp;
      let sink: SmtpSink;
      let store: Awaited<ReturnType<typeof suiteStore>>;
      let app: Server;
      let appOrigin: string;

      before(async () => {
        store = await suiteStore(storeKind);
        // restauth on a port of its own, named in its mails' links (restauth's public address here).
        ({ t, sink, app, appOrigin } = await onFreePortListening(
          async (port) => {
            const ssr = ssrApp(`http://127.0.0.1:${port}`);
            await new Promise<void>((resolve) => ssr.listen(0, '127.0.0.1', resolve));
            const origin = `http://127.0.0.1:${(ssr.address() as AddressInfo).port}`;
            const started = await startMailingApp({
              ...store.config,
              host: '127.0.0.1',
              port,
              siteUrl: origin,
            });
            return { ...started, app: ssr, appOrigin: origin };
          },
          (started) => new Promise((resolve) => started.app.close(() => resolve())),
        ));
      });
      after(async () => {
        await new Promise((resolve) => app.close(resolve));
        await stopMailingApp(t, sink);
        await store.drop();
      });

      it('sign-up → mailed link → exchangeCodeForSession → getUser, the session in cookies', async () => {
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          await page.goto(`${appOrigin}/`);
          await page.fill('input[name=email]', 'sam@acme.test');
          await page.fill('input[name=password]', 'correct horse battery');
          const since = sink.mails.length;
          await Promise.all([page.waitForURL(`${appOrigin}/signup`), page.click('button')]);
          assert.equal(await page.textContent('#result'), 'Check your mail');
          const verifierCookies = (await context.cookies()).filter((cookie) =>
            cookie.name.endsWith('-code-verifier'),
          );
          assert.equal(verifierCookies.length, 1, 'the verifier waits in a cookie of the app');

          const { link } = secretsOf(await nextMail(sink, 'sam@acme.test', since));
          assert.match(link, /token=pkce_/u);
          await page.goto(link);
          await Promise.all([page.waitForURL(`${appOrigin}/account`), page.click('button')]);
          assert.equal(await page.textContent('#result'), 'signed in as sam@acme.test');
          const names = (await context.cookies()).map((cookie) => cookie.name);
          assert.ok(
            names.some((name) => /^sb-.+-auth-token(\.\d+)?$/u.test(name)),
            `a session cookie among ${names.join(', ')}`,
          );
          assert.ok(!names.some((name) => name.endsWith('-code-verifier')), 'the verifier was spent');

          // The same link again: used, so no second code; the app is still signed in.
          await page.goto(link);
          await page.click('button');
          assert.match((await page.content()) ?? '', /expired or was already used/u);
          await page.goto(`${appOrigin}/account`);
          assert.equal(await page.textContent('#result'), 'signed in as sam@acme.test');
        } finally {
          await context.close();
        }
      });
    });
  }
});
