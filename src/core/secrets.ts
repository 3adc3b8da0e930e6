import { createHash, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';

/** A fresh opaque secret (refresh token, one-time token, session key): 256 random bits, base64url. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function randomId(): string {
  return randomUUID();
}

/** How opaque secrets are stored: SHA-256, base64url. Enough for 256-bit random inputs (no salt needed). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Keyed derivation: HMAC-SHA256(key, input), base64url. */
export function deriveSecret(key: string, input: string): string {
  return createHmac('sha256', key).update(input).digest('base64url');
}

/**
 * A key of its own for one use, derived from a configured secret with HKDF-SHA256: the secret itself
 * never keys two things, and a key derived for one purpose says nothing about the secret or the others.
 */
export function deriveKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'restauth', purpose, 32));
}
