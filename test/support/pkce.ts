import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';

/** The body fields of a PKCE request: the S256 challenge of a verifier the client keeps. */
export interface PkceChallenge {
  code_challenge: string;
  code_challenge_method: 's256';
}

/** A client's code verifier: 64 characters of base64url, random (RFC 7636 asks 43 to 128). */
export function newVerifier(): string {
  return randomBytes(48).toString('base64url');
}

/** The S256 challenge of `verifier`, as GoTrue's endpoints take it. */
export function challengeOf(verifier: string): PkceChallenge {
  return {
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 's256',
  };
}

/** How a suite sends its requests: the app's inject, or a wrapper of it (its own client address). */
export type Inject = (options: InjectOptions) => Promise<LightMyRequestResponse>;

/** GoTrue's code exchange: POST /auth/v1/token?grant_type=pkce with the code and its verifier. */
export function exchangePkceCode(
  inject: Inject,
  authCode: string,
  verifier: string,
): Promise<LightMyRequestResponse> {
  return inject({
    method: 'POST',
    url: '/auth/v1/token?grant_type=pkce',
    payload: { auth_code: authCode, code_verifier: verifier },
  });
}

/** Presses the button of the hosted page a mailed link opens, as its form posts; the answer. */
export function pressLinkButton(inject: Inject, link: string): Promise<LightMyRequestResponse> {
  const { pathname, search } = new URL(link);
  return inject({
    method: 'POST',
    url: pathname + search,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: '',
  });
}

/** Where the pressed button of a mailed link redirects (303), to be followed by the browser. */
export async function pressedLinkTarget(inject: Inject, link: string): Promise<URL> {
  const pressed = await pressLinkButton(inject, link);
  assert.equal(pressed.statusCode, 303, pressed.body);
  return new URL(String(pressed.headers.location));
}
