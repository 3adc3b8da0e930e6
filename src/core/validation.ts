import { AuthError } from './errors.js';

/** Longest user name or email address accepted (RFC 5321's path limit is 256; this leaves room). */
export const MAX_LOGIN_LENGTH = 320;
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/u;

/** Normalizes an email address (trimmed, lower-cased) or refuses it with validation_failed. */
export function checkEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (normalized.length > MAX_LOGIN_LENGTH || !EMAIL_SHAPE.test(normalized)) {
    throw new AuthError('validation_failed', 'Invalid email address');
  }
  return normalized;
}
