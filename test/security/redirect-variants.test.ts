import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { pressedLinkTarget } from '../support/pkce.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const SITE = 'https://site.acme.test';

/** The hosted /verify page's status for a redirect_to: 200 when it is allowed, 400 when not. */
const verifyPageStatus = async (t: TestApp, redirectTo: string): Promise<number> =>
  (
    await t.app.inject({
      url: `/auth/v1/verify?type=magiclink&token=abc&redirect_to=${encodeURIComponent(redirectTo)}`,
    })
  ).statusCode;

/**
 * redirect_to spellings that parsers disagree on, each an open redirect somewhere (a mailed link
 * then hands its session to the attacker's host in the URL fragment): userinfo before the host,
 * backslashes, a scheme-relative or scheme-only address, look-alike hosts (a longer name, a
 * Cyrillic letter, a trailing dot), controls a browser strips, other schemes. The hosted
 * /verify page checks redirect_to as the mails do (RedirectPolicy): it answers its form only for
 * an allowed address, 400 for any other.
 */
describe('redirect_to spellings lead nowhere but the site and the allow-list', () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        siteUrl: SITE,
        redirectAllowList: [
          'https://app.acme.test/auth/*',
          'https://m.acme.test/cb',
          // Mobile deep links, as GoTrue admits them: one exact, two prefixes (GoTrue's "**").
          'io.supabase.flutterquickstart://login-callback/',
          'com.supabase://*',
          'exp://192.168.1.1:19000/--/*',
          // Loopback written as IPv4-mapped IPv6, loopback to GoTrue (Go's IsLoopback) as to restauth.
          'http://[::ffff:127.0.0.1]:54321/cb',
        ],
        // GOTRUE_URI_ALLOW_LIST's globs, matched as GoTrue's gobwas/glob with separators "." and "/".
        redirectAllowGlobs: [
          'https://*-team.glob.test/**',
          'https://app.glob.test/auth/*',
          'https://pr-?.glob.test/cb',
          'https://[a-c]x.glob.test/cb',
          'https://[!a]y.glob.test/cb',
          'https://{www,beta}.glob.test/cb',
          'https://*.vercel.glob.test',
          // GoTrue matches the text as sent; here the URL as parsed, so the glob's host is read in lower case.
          'HTTPS://Docs.Glob.test/cb',
          'com.globapp://*',
          // GoTrue refuses a non-loopback IP literal before its globs, however an entry lists it.
          'https://10.0.0.*/**',
          'http://127.0.0.1:*/**',
        ],
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  const verifyPage = (redirectTo: string) => verifyPageStatus(t, redirectTo);

  const answers = (status: number, verb: string, targets: string[], why = '') => {
    for (const target of targets) {
      it(`${verb} ${JSON.stringify(target)}${why}`, async () => {
        assert.equal(await verifyPage(target), status);
      });
    }
  };

  answers(
    200,
    'allows',
    [
      `${SITE}/home`,
      `${SITE}\\@evil.test`,
      'https://app.acme.test/auth/callback',
      'https://m.acme.test/cb',
      'io.supabase.flutterquickstart://login-callback/',
      'IO.SUPABASE.FLUTTERQUICKSTART://login-callback/',
      'com.supabase://login-callback?next=1',
      'exp://192.168.1.1:19000/--/auth/callback',
      // GoTrue matches without the fragment: an exact entry still admits the target carrying one.
      'https://m.acme.test/cb#state=1',
      'io.supabase.flutterquickstart://login-callback/#x',
      // Listed, a loopback address written as IPv4-mapped IPv6, in either spelling (was refused).
      'http://[::ffff:127.0.0.1]:54321/cb',
      'http://[::ffff:7f00:1]:54321/cb',
      'http://[0:0:0:0:0:ffff:7f00:1]:54321/cb',
    ],
    ', on the site or the list',
  );

  answers(400, 'refuses', [
    'https://site.acme.test@evil.test/',
    'https://site.acme.test:443@evil.test/',
    'https://user:pw@site.acme.test/',
    '//evil.test/',
    '\\\\evil.test/',
    '/\\evil.test/',
    'https:evil.test',
    'https:/evil.test',
    'https://evil.test#@site.acme.test',
    'https://evil.test?@site.acme.test',
    'https://site.acme.test.evil.test/',
    'https://site.acme.test./',
    'https://sіte.acme.test/',
    'https://evil\t.test/',
    'HTTPS://EVIL.TEST/',
    'https://app.acme.test/auth/../../evil',
    'https://app.acme.test/authx',
    'https://app.acme.test.evil.test/auth/x',
    'https://m.acme.test/cb/../../x',
    'https://m.acme.test/cbx',
    'javascript:alert(document.domain)//https://site.acme.test/',
    'data:text/html,<script>alert(1)</script>',
    'ftp://site.acme.test/',
    'http://site.acme.test/',
    'https://site.acme.test:8443/',
    // No deep link runs code or shows other content, however its scheme is spelt.
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'java\tscript:alert(1)',
    ' javascript:alert(1)',
    'javascript://login-callback/%0aalert(1)',
    'vbscript:msgbox(1)',
    'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
    'file:///etc/passwd',
    'blob:https://site.acme.test/x',
    'about:blank',
    // A scheme no entry lists: never through the site's origin, though the host is the site's.
    'io.evil.app://login-callback/',
    'myapp://site.acme.test/',
    'intent://login-callback/#Intent;scheme=https;package=io.evil;end',
    // A listed scheme with another host or path than its entry names.
    'io.supabase.flutterquickstart://evil.test/',
    'io.supabase.flutterquickstart://login-callback/x',
    'io.supabase.flutterquickstart://login-callback/../evil',
    'io.supabase.flutterquickstart:login-callback/',
    'io.supabase.flutterquickstart://user@login-callback/',
    'exp://192.168.1.2:19000/--/auth',
    'exp://192.168.1.1:19000/other',
    'exp://192.168.1.1:19000/--/../../x',
    'com.supabase.evil://x',
    'com.supabase:/x',
    // Another port, or not loopback: an IPv4-compatible address (Go's IsLoopback says no), a mapped 10.0.0.5.
    'http://[::ffff:127.0.0.1]:54322/cb',
    'http://[::127.0.0.1]:54321/cb',
    'http://[::ffff:10.0.0.5]:54321/cb',
    // Below a prefix, a path that climbs out of it once a server decodes it.
    'https://app.acme.test/auth/..%2F..%2Fadmin',
    'https://app.acme.test/auth/..%2f..%2fadmin',
    'https://app.acme.test/auth/..%5C..%5Cadmin',
    'https://app.acme.test/auth/%252e%252e/admin',
    'https://app.acme.test/auth/.%252E/admin',
    'https://app.acme.test/auth/x%252Fy',
    'com.supabase://login-callback/..%2F..%2Fx',
  ]);

  answers(
    200,
    'allows',
    [
      'https://pr-12-team.glob.test/',
      'https://pr-12-team.glob.test/auth/callback?next=/home#frag',
      'https://app.glob.test/auth/callback',
      'https://app.glob.test/auth/',
      'https://app.glob.test/auth/callback?x=1',
      'https://APP.glob.test/auth/callback',
      'https://app.glob.test/auth/callback#a/b.c',
      'https://pr-7.glob.test/cb',
      'https://bx.glob.test/cb',
      'https://zy.glob.test/cb',
      'https://beta.glob.test/cb',
      'https://preview.vercel.glob.test',
      'https://preview.vercel.glob.test/',
      'https://docs.glob.test/cb',
      'https://DOCS.glob.test/cb',
      'com.globapp://login-callback',
      'http://127.0.0.1:54321/cb',
      'http://2130706433:54321/cb',
    ],
    ' by a GoTrue glob',
  );

  answers(
    400,
    'refuses',
    [
      // `*` stops at "." and "/"; `**` goes on.
      'https://a.b-team.glob.test/',
      'https://app.glob.test/auth/a/b',
      'https://app.glob.test/auth/cb.html',
      'https://app.glob.test/auth/logout?next=https://evil.test/',
      'https://app.glob.test/auth/../../evil',
      'https://app.glob.test/auth/%2e%2e/%2e%2e/evil',
      'https://preview.vercel.glob.test/x',
      'https://a.preview.vercel.glob.test',
      // `?` is one character; a class one of its own; alternatives only those named.
      'https://pr-77.glob.test/cb',
      'https://pr-.glob.test/cb',
      'https://dx.glob.test/cb',
      'https://ay.glob.test/cb',
      'https://gamma.glob.test/cb',
      'https://www.beta.glob.test/cb',
      // The attack spellings against a glob's host: GoTrue matches the text, restauth the URL parsed,
      // whose host ends at the first "/", "?", "#" or "\\".
      'https://evil.test?-team.glob.test/',
      'https://evil.test#-team.glob.test/',
      'https://evil.test\\x-team.glob.test/',
      'https://evil.test/x-team.glob.test/',
      'https://x-team.glob.test@evil.test/',
      'https://x-team.glob.test:443@evil.test/',
      'https://user:pw@x-team.glob.test/',
      'https://x-team.glob.test.evil.test/',
      'https://x-team.glob.test./',
      'https://x-tеam.glob.test/',
      'http://x-team.glob.test/',
      'javascript://x-team.glob.test/%0aalert(1)',
      'com.globapp.evil://login-callback',
      'com.globapp://login-callback/x',
      // GoTrue's host rules, before any glob: no IP literal but loopback, in any spelling; no odd name.
      'https://10.0.0.5/x',
      'https://167772165/x',
      'https://0x0a.0.0.5/x',
      'https://012.0.0.5/x',
      'https://a_b-team.glob.test/',
      // A glob's "*" stops at "/", not at a "/" a server decodes.
      'https://app.glob.test/auth/x%2F%2E%2E%2Fadmin',
      'https://pr-1-team.glob.test/a/..%2F..%2Fx',
      'https://pr-1-team.glob.test/%252e%252e/x',
    ],
    ' though GoTrue globs are listed',
  );
});

/**
 * A deep link through the hosted link page for real: the page's form may lead to the app (its CSP
 * names the app's scheme, a custom scheme has no origin), and pressing it answers 303 to the deep
 * link with the session in the fragment, as GoTrue's /verify. On a loopback site URL the port is
 * ignored, as GoTrue's IsRedirectURLValid does (RFC 8252 7.3), and nothing more.
 */
describe('a mobile deep link in the allow-list receives the mailed session, as from GoTrue', () => {
  const DEEP_LINK = 'io.supabase.flutterquickstart://login-callback/';
  let t: TestApp;
  let sink: SmtpSink;

  before(async () => {
    ({ t, sink } = await startMailingApp({
      siteUrl: 'http://localhost:3000',
      redirectAllowList: [DEEP_LINK],
    }));
  });
  after(async () => {
    await stopMailingApp(t, sink);
  });

  /** Asks for a magic link to `redirectTo`, presses it, and checks the session the 303 carries. */
  const signInThrough = async (redirectTo: string, email: string): Promise<URL> => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'a long mobile password 1',
      emailConfirm: true,
    });
    const since = sink.mails.length;
    const asked = await t.app.inject({
      method: 'POST',
      url: `/auth/v1/otp?redirect_to=${encodeURIComponent(redirectTo)}`,
      payload: { email, create_user: false },
    });
    assert.equal(asked.statusCode, 200, asked.body);
    const { link } = secretsOf(await nextMail(sink, email, since));

    const { pathname, search } = new URL(link);
    const shown = await t.app.inject({ url: pathname + search });
    assert.equal(shown.statusCode, 200, shown.body);
    assert.match(
      String(shown.headers['content-security-policy']),
      /form-action 'self' io\.supabase\.flutterquickstart:;/,
    );

    const location = await pressedLinkTarget((request) => t.app.inject(request), link);
    assert.equal(`${location.protocol}//${location.host}${location.pathname}`, DEEP_LINK);
    // As supabase-js reads it (parseParametersFromURL): the whole fragment as one query string.
    const session = new URLSearchParams(location.hash.slice(1));
    assert.equal(session.get('type'), 'magiclink');
    const user = await t.app.inject({
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${session.get('access_token')}` },
    });
    assert.equal(user.statusCode, 200, user.body);
    assert.equal((user.json() as { email: string }).email, email);
    return location;
  };

  it('answers the magic link with 303 to the deep link carrying a working session', async () => {
    await signInThrough(DEEP_LINK, 'mobile@acme.test');
  });

  /**
   * GoTrue admits this target (it matches without the fragment) and then writes
   * `redirect_to + "#" + session` (AsRedirectURL): "#state=x#access_token=...", in which supabase-js
   * finds no access_token. restauth puts the session in place of the target's fragment, as GoTrue's
   * own error and message redirects do (u.Fragment = ...), so the app receives a session it can read.
   */
  it('answers a deep link that carries a fragment with the session in place of it', async () => {
    const location = await signInThrough(`${DEEP_LINK}#state=x`, 'mobile-fragment@acme.test');
    assert.equal(new URLSearchParams(location.hash.slice(1)).has('state'), false);
  });

  const verifyPage = (redirectTo: string) => verifyPageStatus(t, redirectTo);

  it('admits any port on the loopback site, nothing else the port rule could widen', async () => {
    assert.equal(await verifyPage('http://localhost:5173/cb'), 200);
    assert.equal(await verifyPage('http://localhost/cb'), 200);
    for (const target of [
      'https://localhost:5173/cb',
      'http://127.0.0.1:5173/cb',
      'http://localhost.evil.test:3000/cb',
      'http://evil.localhost:3000/cb',
      'http://user@localhost:5173/cb',
      'myapp://localhost:3000/',
    ]) {
      assert.equal(await verifyPage(target), 400, target);
    }
  });
});

/** GoTrue's port rule on a site under .localhost, which browsers resolve to loopback (RFC 6761). */
describe('a site URL under .localhost admits any port on its own name only', () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({ format: 'restauth', config: { siteUrl: 'http://app.localhost:3000' } });
  });
  after(async () => {
    await t?.close();
  });

  it('admits another port on the same name, refuses other names and schemes', async () => {
    const verifyPage = (redirectTo: string) => verifyPageStatus(t, redirectTo);
    assert.equal(await verifyPage('http://app.localhost:5173/cb'), 200);
    for (const target of [
      'http://evil.localhost:5173/cb',
      'https://app.localhost:5173/cb',
      'http://app.localhost.evil.test:3000/cb',
      'http://localhost:3000/cb',
    ]) {
      assert.equal(await verifyPage(target), 400, target);
    }
  });
});
