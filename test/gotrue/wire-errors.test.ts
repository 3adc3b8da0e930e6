import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * Every error of the GoTrue dialect with GoTrue's status, code and message (internal/api, its
 * handlers and internal/tokens; the table in docs/supabase.md), driven over HTTP, in both of
 * GoTrue's bodies: `{code: <status>, error_code, msg}` without an API version, `{code, message}`
 * with X-Supabase-Api-Version 2024-01-01 (what auth-js sends).
 */
const PREFIX = '/auth/v1';
const PASSWORD = 'a long passphrase';
type Json = Record<string, unknown>;

interface Case {
  name: string;
  request: (s: Setup) => InjectOptions | Promise<InjectOptions>;
  status: number;
  code: string;
  /** The exact message, or a pattern where it carries a decoder's own words. */
  message: string | RegExp;
}

interface Setup {
  t: TestApp;
  userToken: string;
  serviceToken: string;
}

const post = (url: string, payload?: Json, token?: string): InjectOptions => ({
  method: 'POST',
  url: `${PREFIX}${url}`,
  ...(payload ? { payload } : {}),
  ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
});
const get = (url: string, token?: string): InjectOptions => ({
  method: 'GET',
  url: `${PREFIX}${url}`,
  ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
});
const put = (url: string, payload: Json, token: string): InjectOptions => ({
  ...post(url, payload, token),
  method: 'PUT',
});

async function signIn(t: TestApp, email: string): Promise<{ access_token: string; refresh_token: string }> {
  const res = await t.app.inject(post('/token?grant_type=password', { email, password: PASSWORD }));
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** Users the deleted-user case made: each of its requests signs a new one up. */
let deletedUsers = 0;

const CASES: Case[] = [
  // POST /signup
  {
    name: 'signup: a taken address (automatic confirmation)',
    request: () => post('/signup', { email: 'ann@acme.test', password: PASSWORD }),
    status: 422,
    code: 'user_already_exists',
    message: 'User already registered',
  },
  {
    name: 'signup: an address that is not one',
    request: () => post('/signup', { email: 'not an address', password: PASSWORD }),
    status: 400,
    code: 'validation_failed',
    message: 'Unable to validate email address: invalid format',
  },
  {
    name: 'signup: no password',
    request: () => post('/signup', { email: 'new@acme.test' }),
    status: 400,
    code: 'validation_failed',
    message: 'Signup requires a valid password',
  },
  {
    name: 'signup: a short password',
    request: () => post('/signup', { email: 'new@acme.test', password: 'short' }),
    status: 422,
    code: 'weak_password',
    message: 'Password should be at least 8 characters.',
  },
  {
    name: 'signup: neither email nor phone (anonymous sign-in)',
    request: () => post('/signup', {}),
    status: 422,
    code: 'anonymous_provider_disabled',
    message: 'Anonymous sign-ins are disabled',
  },
  {
    name: 'signup: a phone number',
    request: () => post('/signup', { phone: '+15555550100', password: PASSWORD }),
    status: 400,
    code: 'phone_provider_disabled',
    message: 'Phone signups are disabled',
  },
  {
    name: 'signup: an email and a phone number',
    request: () => post('/signup', { email: 'new@acme.test', phone: '+15555550100', password: PASSWORD }),
    status: 400,
    code: 'validation_failed',
    message: 'Only an email address or phone number should be provided on signup.',
  },
  {
    name: 'signup: a field of the wrong JSON type',
    request: () => post('/signup', { email: 5, password: PASSWORD }),
    status: 400,
    code: 'bad_json',
    message: /^Could not parse request body as JSON: /u,
  },
  {
    // Bounded as /authorize's: it goes into the mailed link and the stored flow.
    name: 'signup: a redirect_to over 2,000 characters',
    request: () =>
      post('/signup', {
        email: 'long-redirect@acme.test',
        password: PASSWORD,
        redirect_to: `https://app.acme.test/${'a'.repeat(2000)}`,
      }),
    status: 400,
    code: 'validation_failed',
    message: 'body/redirect_to must NOT have more than 2000 characters',
  },
  {
    name: 'recover: a redirect_to over 2,000 characters in the query string (as auth-js sends it)',
    request: () =>
      post(`/recover?redirect_to=${encodeURIComponent(`https://app.acme.test/${'a'.repeat(2000)}`)}`, {
        email: 'long-redirect@acme.test',
      }),
    status: 400,
    code: 'validation_failed',
    message: 'querystring/redirect_to must NOT have more than 2000 characters',
  },
  {
    name: 'signup: a body that is not JSON',
    request: () => ({
      method: 'POST',
      url: `${PREFIX}/signup`,
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    }),
    status: 400,
    code: 'bad_json',
    message: /^Could not parse request body as JSON: /u,
  },
  // POST /token
  {
    name: 'token: a wrong password',
    request: () => post('/token?grant_type=password', { email: 'ann@acme.test', password: 'wrong password' }),
    status: 400,
    code: 'invalid_credentials',
    message: 'Invalid login credentials',
  },
  {
    name: 'token: no address',
    request: () => post('/token?grant_type=password', { password: PASSWORD }),
    status: 400,
    code: 'validation_failed',
    message: 'missing email or phone',
  },
  {
    name: 'token: a phone number',
    request: () => post('/token?grant_type=password', { phone: '+15555550100', password: PASSWORD }),
    status: 422,
    code: 'phone_provider_disabled',
    message: 'Phone logins are disabled',
  },
  {
    name: 'token: an unknown refresh token',
    request: () => post('/token?grant_type=refresh_token', { refresh_token: 'abcdefghijklmnop' }),
    status: 400,
    code: 'refresh_token_not_found',
    message: 'Invalid Refresh Token: Refresh Token Not Found',
  },
  {
    name: 'token: an unknown grant type',
    request: () => post('/token?grant_type=client_credentials', {}),
    status: 400,
    code: 'invalid_credentials',
    message: 'unsupported_grant_type',
  },
  {
    name: 'token: web3',
    request: () => post('/token?grant_type=web3', { chain: 'solana', message: 'm', signature: 's' }),
    status: 422,
    code: 'web3_provider_disabled',
    message: 'Web3 provider is disabled',
  },
  {
    name: 'token: an id_token of a provider not enabled',
    request: () => post('/token?grant_type=id_token', { provider: 'google', id_token: 'x.y.z' }),
    status: 400,
    code: 'provider_disabled',
    message: 'Provider (issuer "https://accounts.google.com") is not enabled',
  },
  // GET and PUT /user, POST /logout
  {
    name: 'user: no token',
    request: () => get('/user'),
    status: 401,
    code: 'no_authorization',
    message: 'This endpoint requires a valid Bearer token',
  },
  {
    name: 'user: a token that is not a JWT',
    request: () => get('/user', 'not-a-jwt'),
    status: 403,
    code: 'bad_jwt',
    message: /^invalid JWT: unable to parse or verify signature, token is malformed: /u,
  },
  {
    name: 'user: a token signed with another secret',
    request: async ({ userToken }) => {
      const [header, payload] = userToken.split('.');
      return get('/user', `${header}.${payload}.${'A'.repeat(43)}`);
    },
    status: 403,
    code: 'bad_jwt',
    message:
      'invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid',
  },
  {
    name: 'user: changing the address to a taken one',
    request: ({ userToken }) => put('/user', { email: 'bob@acme.test' }, userToken),
    status: 422,
    code: 'email_exists',
    message: 'A user with this email address has already been registered',
  },
  {
    name: 'user: the same password again',
    request: ({ userToken }) => put('/user', { password: PASSWORD }, userToken),
    status: 422,
    code: 'same_password',
    message: 'New password should be different from the old password.',
  },
  {
    name: 'logout: an unknown scope',
    request: ({ userToken }) => post('/logout?scope=everyone', undefined, userToken),
    status: 400,
    code: 'validation_failed',
    message: 'Unsupported logout scope "everyone"',
  },
  {
    name: 'user: the token of a session that was signed out',
    request: async ({ t }) => {
      const { access_token } = await signIn(t, 'cat@acme.test');
      const out = await t.app.inject(post('/logout', undefined, access_token));
      assert.equal(out.statusCode, 204);
      return get('/user', access_token);
    },
    status: 403,
    code: 'session_not_found',
    message: 'Session from session_id claim in JWT does not exist',
  },
  {
    // GoTrue finds the token's user before its session: a deleted user is no user (FindUserByID).
    name: 'user: the token of a user the admin deleted',
    request: async ({ t, serviceToken }) => {
      const email = `deleted-${++deletedUsers}@acme.test`;
      await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
      const { access_token } = await signIn(t, email);
      const { id } = (await t.app.inject(get('/user', access_token))).json<{ id: string }>();
      const deleted = await t.app.inject({ ...get(`/admin/users/${id}`, serviceToken), method: 'DELETE' });
      assert.equal(deleted.statusCode, 200, deleted.body);
      return get('/user', access_token);
    },
    status: 403,
    code: 'user_not_found',
    message: 'User from sub claim in JWT does not exist',
  },
  {
    name: 'token: a refresh token of a session that was signed out',
    request: async ({ t }) => {
      const { access_token, refresh_token } = await signIn(t, 'cat@acme.test');
      await t.app.inject(post('/logout', undefined, access_token));
      return post('/token?grant_type=refresh_token', { refresh_token });
    },
    status: 400,
    code: 'refresh_token_not_found',
    message: 'Invalid Refresh Token: Refresh Token Not Found',
  },
  // Mail flows
  {
    name: 'recover: no address',
    request: () => post('/recover', {}),
    status: 400,
    code: 'validation_failed',
    message: 'Password recovery requires an email',
  },
  {
    name: 'otp: a phone number',
    request: () => post('/otp', { phone: '+15555550100' }),
    status: 400,
    code: 'phone_provider_disabled',
    message: 'Unsupported phone provider',
  },
  {
    name: 'otp: neither email nor phone',
    request: () => post('/otp', {}),
    status: 400,
    code: 'validation_failed',
    message: 'One of email or phone must be set',
  },
  {
    name: 'resend: an unknown type',
    request: () => post('/resend', { email: 'ann@acme.test', type: 'postcard' }),
    status: 400,
    code: 'validation_failed',
    message: 'Missing one of these types: signup, email_change, sms, phone_change',
  },
  {
    name: 'resend: sms',
    request: () => post('/resend', { phone: '+15555550100', type: 'sms' }),
    status: 400,
    code: 'phone_provider_disabled',
    message: 'Phone logins are disabled',
  },
  {
    name: 'verify: a token hash that was never issued',
    request: () => post('/verify', { type: 'magiclink', token_hash: 'nope' }),
    status: 403,
    code: 'otp_expired',
    message: 'Token has expired or is invalid',
  },
  {
    name: 'verify: no type',
    request: () => post('/verify', { token_hash: 'nope' }),
    status: 400,
    code: 'validation_failed',
    message: 'Verify requires a verification type',
  },
  {
    name: 'verify: a type but no token',
    request: () => post('/verify', { type: 'signup' }),
    status: 400,
    code: 'validation_failed',
    message: 'Verify requires either a token or a token hash',
  },
  // Features restauth does not have
  {
    name: 'authorize: a provider that is not enabled',
    request: () => get('/authorize?provider=github'),
    status: 400,
    code: 'validation_failed',
    message: 'Unsupported provider: provider is not enabled',
  },
  {
    name: 'authorize: a provider GoTrue does not know',
    request: () => get('/authorize?provider=myspace'),
    status: 400,
    code: 'validation_failed',
    message: 'Unsupported provider: Provider myspace could not be found',
  },
  {
    name: 'sso: SAML',
    request: () => post('/sso', { domain: 'acme.test' }),
    status: 404,
    code: 'saml_provider_disabled',
    message: 'SAML 2.0 is disabled',
  },
  {
    name: 'factors: enrolling TOTP',
    request: ({ userToken }) => post('/factors', { factor_type: 'totp' }, userToken),
    status: 422,
    code: 'mfa_totp_enroll_not_enabled',
    message: 'MFA enroll is disabled for TOTP',
  },
  {
    name: 'factors: challenging a factor',
    request: ({ userToken }) =>
      post('/factors/7b0e5e4e-0000-4000-8000-000000000000/challenge', {}, userToken),
    status: 404,
    code: 'mfa_factor_not_found',
    message: 'Factor not found',
  },
  {
    name: 'passkeys',
    request: () => post('/passkeys/authentication/options', {}),
    status: 404,
    code: 'passkey_disabled',
    message: 'Passkeys are disabled',
  },
  {
    name: 'identities: linking',
    request: ({ userToken }) => get('/user/identities/authorize?provider=github', userToken),
    status: 404,
    code: 'manual_linking_disabled',
    message: 'Manual linking is disabled',
  },
  {
    name: 'oauth server',
    request: () => get('/oauth/authorize?client_id=x'),
    status: 404,
    code: 'feature_disabled',
    message: 'OAuth server is disabled',
  },
  {
    name: 'scim: a SCIM client listing users',
    request: () => ({
      method: 'POST',
      url: `${PREFIX}/scim/v2/Users`,
      headers: { 'content-type': 'application/scim+json' },
      payload: '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}',
    }),
    status: 404,
    code: 'feature_disabled',
    message: 'SCIM server is disabled',
  },
  {
    name: 'scim: the base path',
    request: () => get('/scim/v2'),
    status: 404,
    code: 'feature_disabled',
    message: 'SCIM server is disabled',
  },
  {
    name: 'an unknown route',
    request: () => get('/no/such/route?secret=1'),
    status: 404,
    code: 'not_found',
    message: 'No route for GET /auth/v1/no/such/route',
  },
  // The admin API
  {
    name: 'admin: a user token',
    request: ({ userToken }) => get('/admin/users', userToken),
    status: 403,
    code: 'not_admin',
    message: 'User not allowed',
  },
  {
    name: 'admin: creating a user with a taken address',
    request: ({ serviceToken }) =>
      post('/admin/users', { email: 'ann@acme.test', password: PASSWORD }, serviceToken),
    status: 422,
    code: 'email_exists',
    message: 'A user with this email address has already been registered',
  },
  {
    name: 'admin: a user that does not exist',
    request: ({ serviceToken }) => get('/admin/users/7b0e5e4e-0000-4000-8000-000000000000', serviceToken),
    status: 404,
    code: 'user_not_found',
    message: 'User not found',
  },
  {
    name: 'admin: generate_link of an unknown type',
    request: ({ serviceToken }) =>
      post('/admin/generate_link', { type: 'postcard', email: 'ann@acme.test' }, serviceToken),
    status: 400,
    code: 'validation_failed',
    message: 'Invalid email action link type requested: postcard',
  },
];

describe("GoTrue dialect: GoTrue's error codes and messages on every route", () => {
  let setup: Setup;
  before(async () => {
    const t = await createTestApp({ format: 'restauth', config: { passwords: FAST_HASHING } });
    for (const email of ['ann@acme.test', 'bob@acme.test', 'cat@acme.test']) {
      await t.services.admin.createUser(LOCAL_CALL, { email, password: PASSWORD, emailConfirm: true });
    }
    const { access_token } = await signIn(t, 'ann@acme.test');
    setup = {
      t,
      userToken: access_token,
      serviceToken: await serviceTokenOf(t),
    };
  });
  after(() => setup.t.close());

  for (const c of CASES) {
    it(c.name, async () => {
      for (const version of [null, '2024-01-01'] as const) {
        const options = await c.request(setup);
        const headers = {
          ...(options.headers ?? {}),
          ...(version ? { 'x-supabase-api-version': version } : {}),
        };
        const res = await setup.t.app.inject({ ...options, headers });
        const body = res.json<Json>();
        assert.equal(res.statusCode, c.status, res.body);
        assert.equal(
          res.headers['x-sb-error-code'],
          c.code === 'weak_password' && version ? undefined : c.code,
        );
        if (version === null) {
          assert.deepEqual([body['code'], body['error_code']], [c.status, c.code], res.body);
          assertMessage(body['msg'], c.message);
        } else {
          assert.equal(res.headers['x-supabase-api-version'], '2024-01-01');
          assert.equal(body['code'], c.code, res.body);
          assertMessage(body['message'], c.message);
        }
        if (c.code === 'weak_password') assert.deepEqual(body['weak_password'], { reasons: ['length'] });
      }
    });
  }

  it("a browser on another origin may read the headers auth-js parses an error's body by", async () => {
    const res = await setup.t.app.inject({
      ...post('/token?grant_type=password', { email: 'ann@acme.test', password: 'wrong password' }),
      headers: { origin: 'https://app.acme.test', 'x-supabase-api-version': '2024-01-01' },
    });
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/u);
    assert.ok(
      exposed.includes('x-supabase-api-version') && exposed.includes('x-sb-error-code'),
      String(exposed),
    );
  });

  it('an expired access token: bad_jwt saying so', async () => {
    const { t } = setup;
    const { access_token } = await signIn(t, 'bob@acme.test');
    t.advance((t.config.jwt.accessTokenTtl + 60) * 1000);
    const res = await t.app.inject(get('/user', access_token));
    assert.deepEqual(
      [res.statusCode, res.json<Json>()['error_code'], res.json<Json>()['msg']],
      [
        403,
        'bad_jwt',
        'invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired',
      ],
    );
  });

  it('a refresh token used twice (after the grace period): refresh_token_already_used', async () => {
    const { t } = setup;
    const { refresh_token } = await signIn(t, 'bob@acme.test');
    const first = await t.app.inject(post('/token?grant_type=refresh_token', { refresh_token }));
    assert.equal(first.statusCode, 200);
    t.advance((t.config.sessions.reuseGrace + 1) * 1000);
    const again = await t.app.inject(post('/token?grant_type=refresh_token', { refresh_token }));
    assert.deepEqual(
      [again.statusCode, again.json<Json>()['error_code'], again.json<Json>()['msg']],
      [400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used'],
    );
  });
});

describe('GoTrue dialect: sign-ups switched off', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ format: 'restauth', config: { signup: { enabled: false } } });
  });
  after(() => t.close());

  it('signup: signup_disabled in GoTrue words', async () => {
    const res = await t.app.inject(post('/signup', { email: 'new@acme.test', password: PASSWORD }));
    assert.deepEqual(
      [res.statusCode, res.json<Json>()['error_code'], res.json<Json>()['msg']],
      [422, 'signup_disabled', 'Signups not allowed for this instance'],
    );
  });
});

function assertMessage(actual: unknown, expected: string | RegExp): void {
  if (typeof expected === 'string') assert.equal(actual, expected);
  else assert.match(String(actual), expected);
}
