import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Login CSRF on the hosted /verify form: another site's page auto-submits the form with the
 * attacker's own link, and the victim's browser is signed in to the attacker's account. The form's
 * POST is taken only from restauth's own origin, judged by the browser's Sec-Fetch-Site and Origin
 * headers (http/form-from-own-page.ts); a refusal is the form again (403) and spends nothing.
 * Every header combination a browser or a script sends, through the real app.
 */
const PUBLIC_ORIGIN = 'https://auth.acme.test';
const APP = 'https://app.acme.test/welcome';
const FROM_ANOTHER_SITE = /This request came from another site, so nothing was done/u;

type Headers = Record<string, string>;

describe('the hosted /verify form is taken from restauth’s own origin only', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        // Restauth listens on 127.0.0.1:3000 (inject) but is reached at its public URL, as behind a proxy.
        publicUrl: `${PUBLIC_ORIGIN}/`,
        redirectAllowList: [`${APP}`],
        rateLimits: { verify: { max: 1000, window: 300 } },
      },
    });
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'attacker@acme.test',
      password: 'attacker passphrase',
      emailConfirm: true,
    });
  });
  after(() => t.close());

  /** The path and query of a new magic link to the attacker's account, as its mail would carry it. */
  async function magicLink(redirectTo: string | null = APP): Promise<string> {
    const { link } = await t.services.admin.generateLink(LOCAL_CALL, {
      type: 'magiclink',
      email: 'attacker@acme.test',
      redirectTo,
    });
    assert.ok(link !== null);
    const url = new URL(link);
    assert.equal(url.origin, PUBLIC_ORIGIN, 'the mailed link names the public origin');
    return `${url.pathname}${url.search}`;
  }

  /** The form's POST as a browser sends it (an empty body: the token is in the query). */
  function submit(path: string, headers: Headers, body = '') {
    return t.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: body,
    });
  }

  /** Whether `answer` handed a session to the app: the 303 to it with the tokens in the fragment. */
  function signedIn(answer: Awaited<ReturnType<typeof submit>>): boolean {
    const location = answer.headers.location;
    return answer.statusCode === 303 && typeof location === 'string' && location.includes('access_token=');
  }

  const HONEST: Headers = { origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin' };

  const refused: Array<[string, Headers]> = [
    [
      'Sec-Fetch-Site cross-site, Origin of the attacker',
      { origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' },
    ],
    ['Sec-Fetch-Site cross-site alone', { 'sec-fetch-site': 'cross-site' }],
    [
      'Sec-Fetch-Site cross-site with the public Origin (a forged Origin is no excuse)',
      { origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'cross-site' },
    ],
    [
      'Sec-Fetch-Site same-site (a sibling subdomain is another app)',
      { origin: 'https://app.acme.test', 'sec-fetch-site': 'same-site' },
    ],
    ['Sec-Fetch-Site none', { 'sec-fetch-site': 'none' }],
    ['Origin of another site, no Sec-Fetch-Site (an older browser)', { origin: 'https://evil.test' }],
    ['Origin of the same host over http', { origin: 'http://auth.acme.test' }],
    [
      'Origin of the address restauth listens on, not its public one',
      { origin: 'http://127.0.0.1:3000', 'sec-fetch-site': 'same-origin' },
    ],
    ['Origin null without Sec-Fetch-Site (a sandboxed frame, a data: URL)', { origin: 'null' }],
    ['Origin null with Sec-Fetch-Site cross-site', { origin: 'null', 'sec-fetch-site': 'cross-site' }],
  ];
  for (const [name, headers] of refused) {
    it(`refused: ${name}; 403, the form again, and the link still signs in`, async () => {
      const link = await magicLink();
      const answer = await submit(link, headers);
      assert.equal(answer.statusCode, 403, answer.body);
      assert.equal(answer.headers.location, undefined);
      assert.match(String(answer.headers['content-type']), /^text\/html/u);
      assert.match(answer.body, FROM_ANOTHER_SITE);
      assert.match(answer.body, /<form method="post"/u, 'the form is there to submit from restauth itself');
      assert.doesNotMatch(answer.body, /access_token/u);
      // The CSP still lets the form's answer lead to the app, as the GET page's did.
      assert.match(
        String(answer.headers['content-security-policy']),
        /form-action 'self' https:\/\/app\.acme\.test/u,
      );

      const honest = await submit(link, HONEST);
      assert.ok(signedIn(honest), `the link was not spent: ${honest.statusCode} ${honest.body}`);
    });
  }

  const accepted: Array<[string, Headers]> = [
    ['the public Origin with Sec-Fetch-Site same-origin', HONEST],
    ['Origin null with Sec-Fetch-Site same-origin', { origin: 'null', 'sec-fetch-site': 'same-origin' }],
    ['Sec-Fetch-Site same-origin alone', { 'sec-fetch-site': 'same-origin' }],
    ['the public Origin alone (a browser without Fetch Metadata)', { origin: PUBLIC_ORIGIN }],
    ['neither header (curl, a script, an old browser)', {}],
  ];
  for (const [name, headers] of accepted) {
    it(`accepted: ${name}`, async () => {
      const answer = await submit(await magicLink(), headers);
      assert.ok(signedIn(answer), `${answer.statusCode} ${answer.body}`);
    });
  }

  it('a refused form spends no recovery link and changes no password', async () => {
    const { link } = await t.services.admin.generateLink(LOCAL_CALL, {
      type: 'recovery',
      email: 'attacker@acme.test',
      redirectTo: null,
    });
    const url = new URL(link!);
    const path = `${url.pathname}${url.search}`;
    const attacker = await t.services.store.findUserByEmail('attacker@acme.test');
    // Compared as stored: where addresses confirm at once (no SMTP here), the magic links the tests
    // above followed retired the sign-up's password (each proved the address).
    const before = await t.services.store.getPasswordHash(attacker!.id);
    const passwords = 'password=forged+passphrase&password_confirm=forged+passphrase';
    const answer = await submit(
      path,
      { origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' },
      passwords,
    );
    assert.equal(answer.statusCode, 403, answer.body);
    assert.match(answer.body, FROM_ANOTHER_SITE);
    assert.match(answer.body, /Set a new password/u);
    assert.equal(await t.services.store.getPasswordHash(attacker!.id), before, 'the password is unchanged');

    const honest = await submit(
      path,
      HONEST,
      'password=brand+new+passphrase&password_confirm=brand+new+passphrase',
    );
    assert.equal(honest.statusCode, 200, honest.body);
    assert.match(honest.body, /Your password has been changed/u);
    const changed = await t.services.auth.signIn(LOCAL_CALL, 'attacker@acme.test', 'brand new passphrase');
    assert.ok(changed.accessToken, 'the honest form set it');
  });

  it("the JSON API (auth-js verifyOtp) is an app's call from its own origin: not judged by the page's rule", async () => {
    const { token } = await t.services.admin.generateLink(LOCAL_CALL, {
      type: 'magiclink',
      email: 'attacker@acme.test',
      redirectTo: null,
    });
    const answer = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/verify',
      headers: { origin: 'https://app.acme.test', 'sec-fetch-site': 'same-site' },
      payload: { type: 'magiclink', token_hash: token },
    });
    assert.equal(answer.statusCode, 200, answer.body);
    assert.ok(answer.json().access_token);
  });
});
