import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

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

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
