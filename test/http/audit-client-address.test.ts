import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { TestApp } from '../support/app.js';
import { createEveryDialectApp } from '../support/every-dialect-app.js';
import { gotrueClient } from '../support/gotrue.js';
import { startGithubApp, type OAuthApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';
import type { AuditEvent } from '../../src/core/ports/store.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * Every audit event a request records carries that request's client address, in every dialect:
 * the routes hand it to the use cases (clientOf), which hand it to the audit log. A route that
 * passed none, or a use case that dropped it on the way, records an event without an address.
 * Each family signs in from an address of its own, so an address leaking from another request
 * shows too.
 */
const PASSWORD = 'a long passphrase';

describe('The audit log records the client address of each request, in every dialect', () => {
  let t: TestApp;
  const seen = new Set<string>();

  before(async () => {
    t = await createEveryDialectApp();
  });
  after(() => t.close());

  /** Sends `request` from `address` and returns its answer and the audit events recorded since the last call. */
  async function from(address: string, request: InjectOptions, status: number) {
    const response = await t.app.inject({ ...request, remoteAddress: address });
    assert.equal(response.statusCode, status, `${request.method} ${request.url}: ${response.body}`);
    await t.services.idle();
    const { events } = await t.services.audit.list({ page: 1, perPage: 1000 });
    const recorded = events.filter((event) => !seen.has(event.id));
    for (const event of recorded) seen.add(event.id);
    return { response, recorded };
  }

  /** Asserts `request` from `address` recorded exactly `actions`, each with that address. */
  async function records(address: string, request: InjectOptions, status: number, actions: string[]) {
    const { response, recorded } = await from(address, request, status);
    assert.deepEqual(
      recorded.map((event) => event.action).sort(),
      [...actions].sort(),
      `${request.method} ${request.url}`,
    );
    assertFrom(address, recorded);
    return response;
  }

  const service = () => serviceTokenOf(t);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('GoTrue: sign-up, sign-in, a failed one, a password change, logout', async () => {
    const ip = '192.0.2.1';
    const signUp = await records(
      ip,
      { method: 'POST', url: '/auth/v1/signup', payload: { email: 'ann@acme.test', password: PASSWORD } },
      200,
      ['sign_up', 'sign_in'],
    );
    assert.ok(signUp.json<{ access_token?: string }>().access_token, signUp.body);
    const password = { email: 'ann@acme.test', password: PASSWORD };
    const url = '/auth/v1/token?grant_type=password';
    const signIn = await records(ip, { method: 'POST', url, payload: password }, 200, ['sign_in']);
    const { access_token: token } = signIn.json<{ access_token: string }>();
    const wrong = { ...password, password: 'not the passphrase' };
    await records(ip, { method: 'POST', url, payload: wrong }, 400, ['sign_in_failed']);
    const change = { password: 'another long passphrase' };
    const put = { method: 'PUT', url: '/auth/v1/user', payload: change, headers: bearer(token) } as const;
    await records(ip, put, 200, ['password_changed']);
    await records(ip, { method: 'POST', url: '/auth/v1/logout', headers: bearer(token) }, 204, ['logout']);
  });

  it('GoTrue admin: a user created, updated, its link generated, signed out, deleted', async () => {
    const ip = '192.0.2.2';
    const headers = bearer(await service());
    const payload = { email: 'bob@acme.test', password: PASSWORD, email_confirm: true };
    const created = await records(
      ip,
      { method: 'POST', url: '/auth/v1/admin/users', payload, headers },
      200,
      ['admin_user_created'],
    );
    const { id } = created.json<{ id: string }>();
    const user = `/auth/v1/admin/users/${id}`;
    const update = { method: 'PUT', url: user, payload: { user_metadata: { a: 1 } }, headers } as const;
    await records(ip, update, 200, ['admin_user_updated']);
    const link = { type: 'magiclink', email: 'bob@acme.test' };
    const generate = { method: 'POST', url: '/auth/v1/admin/generate_link', payload: link, headers } as const;
    await records(ip, generate, 200, ['admin_link_generated']);
    await records(ip, { method: 'DELETE', url: user, headers }, 200, ['admin_user_deleted']);
  });

  it('json-data-server: register, login, a failed login, a password change, logout', async () => {
    const ip = '192.0.2.3';
    const credentials = { username: 'carol', password: PASSWORD };
    await records(ip, { method: 'POST', url: '/auth/register', payload: credentials }, 200, ['sign_up']);
    await records(ip, { method: 'POST', url: '/auth/login', payload: credentials }, 200, ['sign_in']);
    const wrong = { ...credentials, password: 'not the passphrase' };
    await records(ip, { method: 'POST', url: '/auth/login', payload: wrong }, 400, ['sign_in_failed']);
    const change = { ...credentials, newpassword: 'another long passphrase' };
    const changed = await records(ip, { method: 'POST', url: '/auth/password', payload: change }, 200, [
      'password_changed',
    ]);
    const { refresh_token } = changed.json<{ refresh_token: string }>();
    assert.ok(refresh_token, changed.body);
    const logout = { method: 'POST', url: '/auth/logout', payload: { refresh_token } } as const;
    await records(ip, logout, 204, ['logout']);
  });

  it('postgrest-auth (an IPv6 client, kept whole): sign-up, sign-in, a password change', async () => {
    const ip = '2001:db8::4';
    const user = { username: 'dave', password: PASSWORD };
    await records(ip, { method: 'POST', url: '/pg/users', payload: user }, 201, ['sign_up']);
    await records(ip, { method: 'POST', url: '/pg/refresh_token', payload: user }, 200, ['sign_in']);
    const change = {
      username: 'dave',
      current_password: PASSWORD,
      new_password: 'another long passphrase',
      new_password_confirm: 'another long passphrase',
    };
    await records(ip, { method: 'POST', url: '/pg/change_password', payload: change }, 200, [
      'password_changed',
    ]);
  });

  it('json-server-auth: register, login', async () => {
    const ip = '192.0.2.5';
    const user = { email: 'erin@acme.test', password: PASSWORD };
    await records(ip, { method: 'POST', url: '/register', payload: user }, 201, ['sign_up']);
    await records(ip, { method: 'POST', url: '/login', payload: user }, 200, ['sign_in']);
  });
});

describe('The audit log records the client address of an OAuth callback', () => {
  const APP = 'https://app.test';
  let app: OAuthApp<OAuth2Server>;

  before(async () => {
    app = await startGithubApp({ siteUrl: APP });
  });
  after(() => app.close());

  it("a GitHub user's sign-up through the callback is recorded with the browser's address", async () => {
    const { client } = gotrueClient(app.url);
    const { data } = await client.signInWithOAuth({
      provider: 'github',
      options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
    });
    app.provider.signInAs(githubAccount(583231, 'octocat', 'octocat@github.test'));
    const landed = await followRedirects(data.url!, APP);
    assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);
    await app.t.services.idle();
    const { events } = await app.t.services.audit.list({ page: 1, perPage: 100 });
    assert.deepEqual(events.map((event) => event.action).sort(), ['sign_in', 'sign_up']);
    // The browser (fetch) reached the listening server over loopback.
    assertFrom(events[0]!.ip ?? 'no address', events);
    assert.match(events[0]!.ip ?? '', /^(::ffff:)?127\.0\.0\.1$|^::1$/u);
  });
});

function assertFrom(address: string, events: readonly AuditEvent[]): void {
  for (const event of events) assert.equal(event.ip, address, `${event.action}'s address`);
}
