import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * The provider's tokens (GoTrue's provider_token and provider_refresh_token) while a PKCE
 * sign-in's code waits to be exchanged: they are the user's credentials at the provider, so the
 * flow state keeps them sealed (AES-256-GCM with a server key), never as GoTrue's plain columns.
 * A database dump, a backup or credentials.json read by someone else yields nothing usable, and
 * the flow's id is the seal's associated data, so a sealed token copied to another flow does not
 * open. They live as long as the code: deleted with the flow at the exchange, or by the upkeep
 * once the code has expired.
 */
export class ProviderTokenSeal {
  private static readonly VERSION = 'v1';

  /** `key`: 32 bytes, derived from the server's secret for this purpose only. */
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the provider token seal needs a 32-byte key');
  }

  seal(token: string, flowId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(flowId));
    const sealed = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return `${ProviderTokenSeal.VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')}`;
  }

  /** The token sealed for `flowId`; null when it was sealed with another key or for another flow, or altered. */
  open(sealed: string, flowId: string): string | null {
    const [version, body] = sealed.split('.', 2);
    if (version !== ProviderTokenSeal.VERSION || body === undefined) return null;
    const bytes = Buffer.from(body, 'base64url');
    if (bytes.length < 28) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
      decipher.setAAD(Buffer.from(flowId));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}
