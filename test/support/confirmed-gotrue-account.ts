import assert from 'node:assert/strict';
import type { TestApp } from './app.js';
import { nextMail, secretsOf } from './gotrue.js';
import type { SmtpSink } from './smtp-sink.js';

/** The session GoTrue's POST /verify answers. */
export interface VerifiedSession {
  access_token: string;
  refresh_token: string;
  user: { id: string; email: string };
}

/**
 * A GoTrue account at `email` whose owner signed up and typed the code mailed to confirm it (the app
 * requires confirmation: startMailingApp's); the session that confirmation opened.
 */
export async function confirmedGotrueAccount(
  t: TestApp,
  sink: SmtpSink,
  email: string,
  password: string,
): Promise<VerifiedSession> {
  const since = sink.mails.length;
  const signUp = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: { email, password } });
  assert.equal(signUp.statusCode, 200, signUp.body);
  const { code } = secretsOf(await nextMail(sink, email, since));
  const verified = await t.app.inject({
    method: 'POST',
    url: '/auth/v1/verify',
    payload: { type: 'signup', email, token: code },
  });
  assert.equal(verified.statusCode, 200, verified.body);
  return verified.json<VerifiedSession>();
}
