import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthError } from './errors.js';
import type { CodeChallengeMethod } from './ports/flow-states.js';

/**
 * PKCE's challenge and verifier (RFC 7636), checked as GoTrue checks them
 * (internal/api/pkce.go, internal/security/pkce.go): a challenge of 43 to 128
 * unreserved characters, its method `s256` or `plain` in any case, and both or
 * neither.
 */
export interface PkceChallenge {
  challenge: string;
  method: CodeChallengeMethod;
}

const CHALLENGE = /^[a-zA-Z._~0-9-]+$/u;
const MIN_LENGTH = 43;
const MAX_LENGTH = 128;

/** The request's PKCE parameters: null for the implicit flow (neither given); a 400 when malformed. */
export function pkceChallenge(
  challenge: string | null | undefined,
  method: string | null | undefined,
): PkceChallenge | null {
  const given = challenge ?? '';
  const givenMethod = method ?? '';
  if ((given === '') !== (givenMethod === '')) {
    throw new AuthError('validation_failed', 'PKCE flow requires code_challenge_method and code_challenge');
  }
  if (given === '') return null;
  if (given.length < MIN_LENGTH || given.length > MAX_LENGTH) {
    throw new AuthError(
      'validation_failed',
      `code challenge has to be between ${MIN_LENGTH} and ${MAX_LENGTH} characters`,
    );
  }
  if (!CHALLENGE.test(given)) {
    throw new AuthError(
      'validation_failed',
      'code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes',
    );
  }
  const parsed = givenMethod.toLowerCase();
  if (parsed !== 's256' && parsed !== 'plain') {
    throw new AuthError('validation_failed', `unsupported code_challenge method "${givenMethod}"`);
  }
  return { challenge: given, method: parsed };
}

/** Whether `verifier` is the one the challenge was made from, compared in constant time. */
export function verifierMatches(flow: PkceChallenge, verifier: string): boolean {
  const expected = Buffer.from(flow.challenge);
  const actual = Buffer.from(
    flow.method === 's256' ? createHash('sha256').update(verifier).digest('base64url') : verifier,
  );
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
