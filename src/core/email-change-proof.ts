import { hashSecret } from './secrets.js';

/**
 * What a pending email change keeps of the password that proved it (postgrest-auth's change_email):
 * a fingerprint of the hash that password was verified against, in the change's token data. The
 * change is followed only while the account's stored hash still has it: a password changed or reset
 * since ends the change, as a session's end ends a change asked in that session. A fingerprint, not
 * the hash: a token's data is no place for a copy of a password hash.
 */
export const PASSWORD_PROOF = 'passwordProof';

/** The fingerprint of `hash` a change proven by it keeps (PASSWORD_PROOF). */
export function passwordProofOf(hash: string): string {
  return hashSecret(`email change proven by\n${hash}`);
}
