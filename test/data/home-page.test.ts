import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchBrowser } from '../support/browser.js';
import { createTestApp, type TestApp } from '../support/app.js';

/** `GET /`: the resources with their counts, the custom routes and how to get a token; every name escaped. */
const HOSTILE = '<img src=x onerror=alert(1)>';
const db = {
  posts: [{ id: 1 }, { id: 2 }, { id: 3 }],
  notes: [{ id: 1, userId: 'x' }],
  profile: { name: 'typicode' },
  [HOSTILE]: [{ id: 1 }],
  users: [{ id: 'a' }, { id: 'b' }],
};
const config = {
  auth: { passwordSalt: 4 },
  rules: { posts: 644, profile: 644, [HOSTILE]: 644 },
  routes: { '/api/*': '/$1', '/x<script>': '/posts' },
};

describe('the home page', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('lists every resource, counts only what needs no token, shows routes and the token routes', async () => {
    t = await createTestApp({ format: 'json-data-server', config, files: { 'db.json': JSON.stringify(db) } });
    const page = await t.app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
    const html = page.body;
    assert.match(html, /<a href="\/posts">\/posts<\/a> <sup>3x<\/sup>/);
    assert.match(html, /<a href="\/profile">\/profile<\/a> <sup>object<\/sup>/);
    // How many users or private notes there are is nobody's business without a token.
    assert.match(html, /<a href="\/users">\/users<\/a> <sup>needs a token<\/sup>/);
    assert.match(html, /<a href="\/notes">\/notes<\/a> <sup>needs a token<\/sup>/);
    assert.match(html, /POST \/auth\/register \{&quot;username&quot;:&quot;alice&quot;/);
    assert.match(html, /POST \/auth\/login/);
    assert.match(html, /<code>\/api\/\*<\/code>/);
    // Escaped everywhere: no tag from db.json or the routes reaches the page.
    assert.doesNotMatch(html, /<img|<script/);
    assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(html, /\/x&lt;script&gt;/);
  });

  it("a static folder's own index.html wins, as in json-server", async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config,
      files: { 'db.json': JSON.stringify(db) },
      prepare: async (dir) => {
        await mkdir(join(dir, 'public'));
        await writeFile(join(dir, 'public', 'index.html'), '<p>my app</p>');
      },
    });
    const page = await t.app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.equal(page.body, '<p>my app</p>');
  });
});

describe('the home page in Chromium', { skip: chromiumAvailable() ?? false }, () => {
  let browser: Browser;
  let t: TestApp;
  let base: string;
  before(async () => {
    browser = await launchBrowser();
    t = await createTestApp({ format: 'json-data-server', config, files: { 'db.json': JSON.stringify(db) } });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await browser.close();
    await t.close();
  });

  it('shows the resources as text, runs nothing from db.json, and its links lead to the data', async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const violations: string[] = [];
    page.on('console', (message) => violations.push(message.text()));
    await page.goto(base);
    const items = await page.locator('#resources li').allInnerTexts();
    assert.deepEqual(
      items.map((text) => text.replace(/\s+/gu, ' ').trim()),
      ['/posts 3x', '/notes needs a token', '/profile object', `/${HOSTILE} 1x`, '/users needs a token'],
    );
    assert.equal(await page.locator('img').count(), 0);
    assert.deepEqual(dialogs, []);
    // The page's own style is allowed by the CSP: nothing was refused.
    assert.deepEqual(
      violations.filter((text) => /Content Security Policy/u.test(text)),
      [],
    );
    await page.getByRole('link', { name: '/posts' }).click();
    await page.waitForURL(`${base}/posts`);
    assert.deepEqual(JSON.parse(await page.locator('body').innerText()), db.posts);
    await page.close();
  });
});
