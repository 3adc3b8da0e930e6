import assert from 'node:assert/strict';
import type { TestApp } from './app.js';

/** Registers `username` through json-data-server's POST /auth/register; its access token. */
export async function registeredToken(t: TestApp, username: string, password: string): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { username, password },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ access_token: string }>().access_token;
}
