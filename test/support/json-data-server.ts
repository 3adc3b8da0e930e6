import assert from 'node:assert/strict';
import type { TestApp } from './app.js';

/** The tokens json-data-server's POST /auth/register answers. */
export interface RegisteredSession {
  access_token: string;
  refresh_token: string;
}

/** Registers `username` through json-data-server's POST /auth/register; the session it answers. */
export async function registeredSession(
  t: TestApp,
  username: string,
  password: string,
): Promise<RegisteredSession> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { username, password },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<RegisteredSession>();
}

/** Registers `username` through json-data-server's POST /auth/register; its access token. */
export async function registeredToken(t: TestApp, username: string, password: string): Promise<string> {
  return (await registeredSession(t, username, password)).access_token;
}
