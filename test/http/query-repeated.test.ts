import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { providerAddressOf } from '../support/oidc-provider.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * A query parameter given twice. GoTrue's Go handlers read the first value (url.Values.Get,
 * r.FormValue), so each GoTrue route answers `?p=a&p=b` exactly as `?p=a`, where Fastify's list
 * ['a', 'b'] failed the route's string schema ("querystring/code must be string"). The other
 * dialects' auth routes read no query at all (json-data-server's, postgrest-auth's and
 * json-server-auth's handlers read the body), so a repeated parameter changes nothing there. No
 * answer is a 500.
 */
const PASSWORD = 'a passphrase of words';
const APP = 'https://app.test';

describe('a query parameter given twice', () => {
  let t: TestApp;
  let jsonServerAuth: TestApp;
  let service: string;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        siteUrl: APP,
        dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
        signup: { confirmEmail: false },
        identities: { manualLinking: true, implicitLinking: true },
        // GitHub Enterprise at an address never asked here: /authorize only redirects to it.
        external: {
          github: { enabled: true, client_id: 'cid', secret: 'csecret', url: 'http://127.0.0.1:9' },
        },
      },
      files: { 'db.json': JSON.stringify({ users: [] }) },
    });
    jsonServerAuth = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { jsonServerAuth: { enabled: true } },
        data: { enabled: true },
      },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
    });
    service = await serviceTokenOf(t);
  });
  after(async () => {
    await t.close();
    await jsonServerAuth.close();
  });

  const inject = (
    app: TestApp,
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    options: { payload?: unknown; token?: string } = {},
  ) =>
    app.app.inject({
      method,
      url,
      ...(options.payload !== undefined ? { payload: options.payload as object } : {}),
      ...(options.token !== undefined ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
    });

  async function signUp(email: string): Promise<{ token: string; refresh: string; id: string }> {
    const res = await inject(t, 'POST', '/auth/v1/signup', { payload: { email, password: PASSWORD } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    return { token: body.access_token, refresh: body.refresh_token, id: body.user.id };
  }

  /** Whether each answer says "must be string": the list reaching a route's schema. */
  const noListRefused = (body: string) => assert.doesNotMatch(body, /must be string/);

  it('GET /callback reads the first state, code and error: the same answer as with one of each', async () => {
    for (const [twice, once] of [
      ['state=bad&state=other&code=c1&code=c2', 'state=bad&code=c1'],
      [
        'error=access_denied&error=x&error_description=no&error_description=y',
        'error=access_denied&error_description=no',
      ],
    ] as const) {
      const repeated = await inject(t, 'GET', `/auth/v1/callback?${twice}`);
      const single = await inject(t, 'GET', `/auth/v1/callback?${once}`);
      noListRefused(repeated.body);
      assert.equal(repeated.statusCode, single.statusCode, repeated.body);
      assert.ok(repeated.statusCode < 500, repeated.body);
      assert.equal(repeated.headers.location, single.headers.location);
      assert.equal(repeated.body, single.body);
    }
  });

  it('GET /authorize takes the first provider: github then gitlab goes to GitHub, gitlab then github is refused', async () => {
    const toGithub = await inject(
      t,
      'GET',
      `/auth/v1/authorize?provider=github&provider=gitlab&redirect_to=${APP}`,
    );
    assert.equal(toGithub.statusCode, 302, toGithub.body);
    assert.match(String(toGithub.headers.location), /^http:\/\/127\.0\.0\.1:9\/login\/oauth\/authorize\?/);
    const refused = await inject(t, 'GET', '/auth/v1/authorize?provider=gitlab&provider=github');
    const gitlab = await inject(t, 'GET', '/auth/v1/authorize?provider=gitlab');
    assert.equal(refused.statusCode, 400, refused.body);
    assert.deepEqual(refused.json(), gitlab.json());
  });

  it('GET /user/identities/authorize reads the first provider and skip_http_redirect', async () => {
    const { token } = await signUp('linker@acme.test');
    const res = await inject(
      t,
      'GET',
      '/auth/v1/user/identities/authorize?provider=github&provider=gitlab&skip_http_redirect=true&skip_http_redirect=false',
      { token },
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.match(providerAddressOf(res.json().url), /^http:\/\/127\.0\.0\.1:9\/login\/oauth\/authorize\?/);
  });

  it("the admin API's pages read the first page and per_page", async () => {
    for (let n = 0; n < 3; n += 1) await signUp(`paged${n}@acme.test`);
    for (const path of ['/auth/v1/admin/users', '/auth/v1/admin/audit']) {
      const repeated = await inject(t, 'GET', `${path}?page=2&page=1&per_page=1&per_page=50`, {
        token: service,
      });
      const single = await inject(t, 'GET', `${path}?page=2&per_page=1`, { token: service });
      assert.equal(repeated.statusCode, 200, `${path}: ${repeated.body}`);
      assert.deepEqual(repeated.json(), single.json(), path);
      assert.equal(repeated.headers['x-total-count'], single.headers['x-total-count']);
    }
  });

  it("GET /verify (the mail's link page) reads the first token, type and redirect_to", async () => {
    const repeated = await inject(
      t,
      'GET',
      `/auth/v1/verify?token=t1&token=t2&type=signup&type=bogus&redirect_to=${APP}/a&redirect_to=https://evil.test`,
    );
    const single = await inject(t, 'GET', `/auth/v1/verify?token=t1&type=signup&redirect_to=${APP}/a`);
    assert.equal(repeated.statusCode, 200, repeated.body);
    // The page's form posts back to the URL it was given; the rest is the same page.
    const withoutAction = (body: string) => body.replace(/action="[^"]*"/u, 'action=""');
    assert.equal(withoutAction(repeated.body), withoutAction(single.body));
    const evilFirst = await inject(
      t,
      'GET',
      `/auth/v1/verify?token=t1&type=signup&redirect_to=https://evil.test&redirect_to=${APP}/a`,
    );
    assert.equal(evilFirst.statusCode, 400, 'the first redirect_to is the one checked and used');
  });

  it('POST /token reads the first grant_type; POST /logout the first scope', async () => {
    await signUp('granted@acme.test');
    const password = await inject(t, 'POST', '/auth/v1/token?grant_type=password&grant_type=refresh_token', {
      payload: { email: 'granted@acme.test', password: PASSWORD },
    });
    assert.equal(password.statusCode, 200, password.body);
    const other = await inject(t, 'POST', '/auth/v1/token?grant_type=password', {
      payload: { email: 'granted@acme.test', password: PASSWORD },
    });
    const local = await inject(t, 'POST', '/auth/v1/logout?scope=local&scope=global', {
      token: password.json().access_token,
    });
    assert.equal(local.statusCode, 204, local.body);
    // scope=local ended only that session: the other one still refreshes.
    const refreshed = await inject(t, 'POST', '/auth/v1/token?grant_type=refresh_token', {
      payload: { refresh_token: other.json().refresh_token },
    });
    assert.equal(refreshed.statusCode, 200, refreshed.body);
  });

  it('redirect_to given twice on the routes that mail a link: the same answer as given once', async () => {
    const { token } = await signUp('mailed@acme.test');
    const twice = `redirect_to=${APP}/one&redirect_to=${APP}/two`;
    const once = `redirect_to=${APP}/one`;
    const routes: { method: 'POST' | 'PUT'; path: string; payload: object; token?: string }[] = [
      { method: 'POST', path: '/auth/v1/recover', payload: { email: 'mailed@acme.test' } },
      { method: 'POST', path: '/auth/v1/otp', payload: { email: 'mailed@acme.test', create_user: false } },
      { method: 'POST', path: '/auth/v1/resend', payload: { email: 'mailed@acme.test', type: 'signup' } },
      { method: 'PUT', path: '/auth/v1/user', payload: { data: { plan: 'pro' } }, token },
      { method: 'POST', path: '/auth/v1/invite', payload: { email: 'invited@acme.test' }, token: service },
    ];
    for (const route of routes) {
      const repeated = await inject(t, route.method, `${route.path}?${twice}`, route);
      noListRefused(repeated.body);
      assert.ok(repeated.statusCode < 300, `${route.path}: ${repeated.statusCode} ${repeated.body}`);
      const single = await inject(t, route.method, `${route.path}?${once}`, {
        ...route,
        payload: route.path.endsWith('/invite') ? { email: 'invited2@acme.test' } : route.payload,
      });
      assert.equal(repeated.statusCode, single.statusCode, route.path);
    }
    const signUpTwice = await inject(t, 'POST', `/auth/v1/signup?${twice}`, {
      payload: { email: 'signup-twice@acme.test', password: PASSWORD },
    });
    assert.equal(signUpTwice.statusCode, 200, signUpTwice.body);
  });

  it("json-data-server's, postgrest-auth's and json-server-auth's routes answer as without the query", async () => {
    const cases: [TestApp, string, object][] = [
      [t, '/auth/register', { username: 'jds', password: PASSWORD }],
      [t, '/auth/login', { username: 'jds', password: PASSWORD }],
      [t, '/pg/users', { username: 'pga', password: PASSWORD }],
      [t, '/pg/refresh_token', { username: 'pga', password: PASSWORD }],
      [jsonServerAuth, '/register', { email: 'jsa@acme.test', password: PASSWORD }],
      [jsonServerAuth, '/login', { email: 'jsa@acme.test', password: PASSWORD }],
    ];
    for (const [app, path, payload] of cases) {
      const res = await inject(app, 'POST', `${path}?x=1&x=2&username=a&username=b`, { payload });
      assert.ok(res.statusCode === 200 || res.statusCode === 201, `${path}: ${res.statusCode} ${res.body}`);
    }
    const health = await inject(t, 'GET', '/health?x=1&x=2');
    assert.equal(health.statusCode, 200);
  });
});
