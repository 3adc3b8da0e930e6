import { createHmac, hash, hkdfSync, randomFillSync, randomUUID } from 'node:crypto';

const SECRET_BYTES = 32;
/**
 * Random bytes drawn from the CSPRNG 128 secrets at a time and each used once, as node:crypto's
 * randomUUID keeps its own: a sign-in makes two secrets, and one randomBytes(32) call costs more
 * in its JavaScript wrapping than the bytes do.
 */
const entropy = Buffer.alloc(SECRET_BYTES * 128);
let entropyUsed = entropy.length;

/** A fresh opaque secret (refresh token, one-time token, session key): 256 random bits, base64url. */
export function randomSecret(): string {
  if (entropyUsed === entropy.length) {
    randomFillSync(entropy);
    entropyUsed = 0;
  }
  const secret = entropy.toString('base64url', entropyUsed, entropyUsed + SECRET_BYTES);
  // Zeroed once used: what stays in memory is only secrets not handed out yet.
  entropy.fill(0, entropyUsed, entropyUsed + SECRET_BYTES);
  entropyUsed += SECRET_BYTES;
  return secret;
}

export function randomId(): string {
  return randomUUID();
}

/** How opaque secrets are stored: SHA-256, base64url. Enough for 256-bit random inputs (no salt needed). */
export function hashSecret(secret: string): string {
  // One call, no Hash object: half the CPU of createHash().update().digest() for a short input, and
  // a refresh hashes two tokens.
  return hash('sha256', secret, 'base64url');
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
