import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

const SITE = 'https://site.acme.test';

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
        redirectAllowList: ['https://app.acme.test/auth/*', 'https://m.acme.test/cb'],
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  const verifyPage = async (redirectTo: string) =>
    (
      await t.app.inject({
        url: `/auth/v1/verify?type=magiclink&token=abc&redirect_to=${encodeURIComponent(redirectTo)}`,
      })
    ).statusCode;

  for (const target of [
    `${SITE}/home`,
    `${SITE}\\@evil.test`,
    'https://app.acme.test/auth/callback',
    'https://m.acme.test/cb',
  ]) {
    it(`allows ${JSON.stringify(target)}, on the site or the list`, async () => {
      assert.equal(await verifyPage(target), 200);
    });
  }

  for (const target of [
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
  ]) {
    it(`refuses ${JSON.stringify(target)}`, async () => {
      assert.equal(await verifyPage(target), 400);
    });
  }
});
