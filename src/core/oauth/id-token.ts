import { createHash } from 'node:crypto';
import { AuthError } from '../errors.js';

/**
 * signInWithIdToken's nonce check, as GoTrue's (token_oidc.go): the app sends the raw nonce, the
 * id_token carries its SHA-256 in hex (what the app gave the provider); either both are there or
 * neither. A provider configured with skip_nonce_check skips it.
 */
export function checkIdTokenNonce(tokenNonce: unknown, rawNonce: string | undefined): void {
  const tokenHasNonce = typeof tokenNonce === 'string' && tokenNonce !== '';
  const requestHasNonce = rawNonce !== undefined && rawNonce !== '';
  if (tokenHasNonce !== requestHasNonce) {
    throw new AuthError(
      'validation_failed',
      'Passed nonce and nonce in id_token should either both exist or not.',
    );
  }
  if (tokenHasNonce && createHash('sha256').update(rawNonce!).digest('hex') !== tokenNonce) {
    throw new AuthError('validation_failed', 'Nonces mismatch');
  }
}
