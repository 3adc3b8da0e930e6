import assert from 'node:assert/strict';
import type { TestApp } from './app.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * The routes that answer before their work, so the answer does not tell whether an address has an
 * account: GoTrue's /recover, /otp, /resend and sign-up (a taken address gets a look-alike),
 * postgrest-auth's forgot_password and forgot_username. The app mounts GoTrue and postgrest-auth
 * under /pg (ANSWER_FIRST_DIALECTS), with sign-ups to confirm.
 */
export const ANSWER_FIRST_DIALECTS = { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } };

const PASSWORD = 'answer first passphrase 1';
/** An address with an account and a user name (postgrest-auth's), and one waiting for its confirmation. */
export const KNOWN = 'known@corp.test';
export const UNCONFIRMED = 'unconfirmed@corp.test';

/** Signs KNOWN (confirmed, with the user name `known`) and UNCONFIRMED up. */
export async function addAnswerFirstUsers(t: TestApp): Promise<void> {
  await t.services.auth.register(LOCAL_CALL, {
    username: 'known',
    email: KNOWN,
    password: PASSWORD,
    emailConfirmed: true,
  });
  await t.services.admin.createUser(LOCAL_CALL, { email: UNCONFIRMED, password: PASSWORD });
  await t.services.idle();
}

let serial = 0;

/** Each route's answer (status, Retry-After, body without its request id) for KNOWN and for an unknown address. */
export async function answerFirstAnswers(
  t: TestApp,
): Promise<Map<string, { known: string; unknown: string }>> {
  const post = (url: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url, payload });
  const routes = (email: string) => {
    const known = email === KNOWN;
    return {
      recover: () => post('/auth/v1/recover', { email }),
      'otp (no sign-up)': () => post('/auth/v1/otp', { email, create_user: false }),
      'otp (signs up)': () => post('/auth/v1/otp', { email: known ? KNOWN : `otp-${++serial}@corp.test` }),
      resend: () => post('/auth/v1/resend', { type: 'signup', email: known ? UNCONFIRMED : email }),
      'sign-up': () =>
        post('/auth/v1/signup', {
          email: known ? UNCONFIRMED : `new-${++serial}@corp.test`,
          password: PASSWORD,
        }),
      forgot_password: () => post('/pg/forgot_password', { username: known ? 'known' : email }),
      forgot_username: () => post('/pg/forgot_username', { email }),
    };
  };
  const shape = (name: string, res: Awaited<ReturnType<typeof post>>) => {
    // An error names its request; a sign-up's answer carries a new (or look-alike) user, whose ids
    // and dates differ each time: its fields are compared.
    const { error_id: _request, ...json } = res.json() as Record<string, unknown>;
    const body =
      name === 'sign-up' && res.statusCode === 200 ? Object.keys(json).join(',') : JSON.stringify(json);
    return `${res.statusCode} retry-after=${String(res.headers['retry-after'])} ${body}`;
  };
  const byRoute = new Map<string, { known: string; unknown: string }>();
  const forKnown = routes(KNOWN);
  const forUnknown = routes(`nobody-${++serial}@corp.test`);
  for (const name of Object.keys(forKnown) as Array<keyof typeof forKnown>) {
    const known = shape(name, await forKnown[name]());
    byRoute.set(name, { known, unknown: shape(name, await forUnknown[name]()) });
  }
  return byRoute;
}

/** Asserts every route answered the same to both addresses, matching `expected`. */
export function assertAnswered(
  answers: Map<string, { known: string; unknown: string }>,
  expected: RegExp,
  state: string,
): void {
  for (const [name, { known, unknown }] of answers) {
    assert.match(known, expected, `${name} ${state}: ${known}`);
    assert.equal(known, unknown, `${name} tells addresses apart ${state}`);
  }
}
