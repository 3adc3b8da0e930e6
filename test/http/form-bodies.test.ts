import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Form bodies (application/x-www-form-urlencoded), which every route accepts besides JSON: a field given
 * twice on an auth route is a 400 naming the form field in each dialect's words, where it used to be a
 * list that failed the route's schema as a wrong type (GoTrue's dialect called that a JSON decoding
 * error, bad_json, though no JSON was sent). The data API keeps json-server's reading: a list.
 */

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const REPEATED_CODE = 'Form field "code" is given more than once';

describe('form request bodies', () => {
  let t: TestApp;
  let jsonServerAuth: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
        signup: { confirmEmail: false },
        data: { rules: { posts: 777 } },
      },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
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
  });
  after(async () => {
    await t.close();
    await jsonServerAuth.close();
  });

  const postForm = (app: TestApp, url: string, payload: string, headers: Record<string, string> = {}) =>
    app.app.inject({ method: 'POST', url, headers: { ...FORM, ...headers }, payload });

  it("GoTrue's POST /callback (an OAuth provider's form_post): 400 validation_failed naming the field", async () => {
    const legacy = await postForm(t, '/auth/v1/callback', 'state=s&code=a&code=b');
    assert.equal(legacy.statusCode, 400, legacy.body);
    assert.deepEqual(legacy.json(), { code: 400, error_code: 'validation_failed', msg: REPEATED_CODE });
    assert.equal(legacy.headers['x-sb-error-code'], 'validation_failed');
    const versioned = await postForm(t, '/auth/v1/callback', 'state=s&code=a&code=b', {
      'x-supabase-api-version': '2024-01-01',
    });
    assert.equal(versioned.statusCode, 400, versioned.body);
    assert.deepEqual(versioned.json(), { code: 'validation_failed', message: REPEATED_CODE });
  });

  it("every GoTrue route with a body: the same 400, never bad_json's 'Could not parse request body as JSON'", async () => {
    for (const url of [
      '/auth/v1/signup',
      '/auth/v1/token?grant_type=password',
      '/auth/v1/token?grant_type=pkce',
      '/auth/v1/verify',
      '/auth/v1/otp',
      '/auth/v1/recover',
      '/auth/v1/resend',
    ]) {
      const res = await postForm(t, url, 'email=a%40example.com&email=b%40example.com&password=a+passphrase');
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.deepEqual(
        res.json(),
        { code: 400, error_code: 'validation_failed', msg: 'Form field "email" is given more than once' },
        url,
      );
    }
  });

  it("json-data-server's and postgrest-auth's routes answer the 400 in their own shapes", async () => {
    const login = await postForm(t, '/auth/login', 'username=a&username=b&password=a+passphrase');
    assert.equal(login.statusCode, 400);
    assert.equal(login.body, 'Form field "username" is given more than once');
    const signUp = await postForm(t, '/pg/users', 'username=a&password=x&password=y');
    assert.equal(signUp.statusCode, 400, signUp.body);
    assert.deepEqual(signUp.json(), {
      status: 400,
      statusText: 'Bad Request',
      error: 'validation_failed',
      message: 'Form field "password" is given more than once',
    });
  });

  it("json-server-auth's register and login answer its 400 naming the field", async () => {
    for (const url of ['/register', '/signup', '/login', '/users']) {
      const res = await postForm(
        jsonServerAuth,
        url,
        'email=a%40example.com&email=b%40example.com&password=secret1',
      );
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(res.json(), 'Form field "email" is given more than once', url);
    }
  });

  it('a form with each field once still works: a sign-up and a password sign-in by form', async () => {
    const signUp = await postForm(t, '/auth/v1/signup', 'email=form%40example.com&password=a+passphrase');
    assert.equal(signUp.statusCode, 200, signUp.body);
    const signIn = await postForm(
      t,
      '/auth/v1/token?grant_type=password',
      'email=form%40example.com&password=a+passphrase',
    );
    assert.equal(signIn.statusCode, 200, signIn.body);
  });

  it("the data API reads a repeated field as a list (json-server's urlencoded parser), and refuses __proto__", async () => {
    const created = await postForm(t, '/posts', 'title=a&tags=x&tags=y');
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json<{ tags: unknown }>().tags, ['x', 'y']);
    const poisoned = await postForm(t, '/posts', 'title=a&__proto__=1');
    assert.equal(poisoned.statusCode, 400, poisoned.body);
    assert.deepEqual(poisoned.json(), {
      error: 'validation_failed',
      message: 'A field may not be named __proto__',
    });
  });
});
