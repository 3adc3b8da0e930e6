import { importPKCS8, SignJWT } from 'jose';

/**
 * Sign in with Apple's client secret: not a fixed string but a JWT the
 * developer signs with a key from their Apple developer account (a .p8 file,
 * ES256), as Apple documents it ("Creating a client secret") and as Supabase
 * makes it for GoTrue: `iss` the team id, `sub` the client id (the Services
 * ID), `aud` Apple, `kid` the key's id, at most six months long. restauth
 * signs one itself from the configured key, so it never expires on a running
 * server: a secret is reused until a day before its end, then replaced.
 */

export const APPLE_AUDIENCE = 'https://appleid.apple.com';
/** Apple refuses secrets that live longer than six months (15777000 s); restauth signs 30-day ones. */
const LIFETIME_SECONDS = 30 * 86400;
const RENEW_BEFORE_SECONDS = 86400;

export interface AppleSigningKey {
  /** The developer account's team id (10 characters). */
  teamId: string;
  /** The key's id (10 characters), from the developer account's Keys page. */
  keyId: string;
  /** The .p8 file's contents: a PKCS #8 PEM EC P-256 private key. */
  privateKey: string;
}

/** One client secret for `clientId`, signed with `key`, issued at `now`. */
export async function appleClientSecret(key: AppleSigningKey, clientId: string, now: Date): Promise<string> {
  const privateKey = await importPKCS8(key.privateKey, 'ES256');
  const issuedAt = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: key.keyId })
    .setIssuer(key.teamId)
    .setSubject(clientId)
    .setAudience(APPLE_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + LIFETIME_SECONDS)
    .sign(privateKey);
}

/** The client secret to send now: the last one signed while it has more than a day to live, else a new one. */
export class AppleClientSecrets {
  private current: { secret: string; renewAt: number } | null = null;

  constructor(
    private readonly key: AppleSigningKey,
    private readonly clientId: string,
    private readonly clock: () => Date,
  ) {}

  async secret(): Promise<string> {
    const now = this.clock();
    if (this.current !== null && now.getTime() < this.current.renewAt) return this.current.secret;
    const secret = await appleClientSecret(this.key, this.clientId, now);
    this.current = { secret, renewAt: now.getTime() + (LIFETIME_SECONDS - RENEW_BEFORE_SECONDS) * 1000 };
    return secret;
  }
}
