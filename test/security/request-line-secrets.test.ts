import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/http/logging.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

const EMAIL = 'logged-person@corp.test';
const PASSWORD = 'request line passphrase 1';

/**
 * The request lines (requestLineLogger, written without redaction) at info, as `restauth serve`
 * writes them: secrets and addresses travel in query strings (a mailed link's token, an OAuth
 * callback's code and state, a filter on an address), in bodies and in headers, and the lines must
 * hold none of them while still naming each request's path.
 */
describe('request lines carry no secret', () => {
  let t: TestApp;
  const lines: string[] = [];

  before(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        dialects: { gotrue: {}, jsonDataServer: {} },
      },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
      log: createLogger({ level: 'info', format: 'json' }, stream),
    });
  });
  after(async () => {
    await t?.close();
  });

  it('logs the paths of requests whose queries, bodies and headers held secrets, and none of those', async () => {
    await t.services.auth.signUp(LOCAL_CALL, { email: EMAIL, password: PASSWORD });
    const { accessToken, refreshToken } = await t.services.auth.signIn(LOCAL_CALL, EMAIL, PASSWORD);
    const secrets = [
      EMAIL,
      PASSWORD,
      accessToken,
      refreshToken,
      'mailed-token-0123456789',
      'oauth-code-0123456789',
    ];
    const requests = [
      { method: 'GET', url: `/auth/v1/verify?type=signup&token=mailed-token-0123456789&email=${EMAIL}` },
      { method: 'GET', url: '/auth/v1/callback?code=oauth-code-0123456789&state=oauth-code-0123456789' },
      {
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: EMAIL, password: PASSWORD },
      },
      {
        method: 'POST',
        url: '/auth/v1/token?grant_type=refresh_token',
        payload: { refresh_token: refreshToken },
      },
      { method: 'GET', url: '/auth/v1/user', headers: { authorization: `Bearer ${accessToken}` } },
      { method: 'POST', url: '/auth/check', payload: { access_token: accessToken } },
      { method: 'GET', url: `/users?email=${EMAIL}`, headers: { authorization: `Bearer ${accessToken}` } },
      { method: 'GET', url: `/posts?access_token=${accessToken}` },
      { method: 'POST', url: '/auth/v1/recover', payload: { email: EMAIL } },
    ] as const;
    for (const request of requests) await t.app.inject(request);

    // The request lines: the services' own lines (a mail's recipient is logged by design) are not these.
    const requestLines = lines.filter(
      (line) => (JSON.parse(line) as { method?: string }).method !== undefined,
    );
    const paths = requestLines.map((line) => (JSON.parse(line) as { path?: string }).path);
    for (const request of requests) {
      assert.ok(paths.includes(request.url.split('?')[0]), `${request.url} has a request line`);
    }
    for (const line of requestLines) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `${secret} in: ${line}`);
    }
  });
});
