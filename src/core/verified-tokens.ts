import type { JWTPayload } from 'jose';

/**
 * Tokens whose signature verified, each with its key and claims. A client sends the same access token
 * with every request until it refreshes it, and whether a token's signature holds under a key is a pure
 * function of the two: a token seen again skips the header's decoding and the HMAC or signature check
 * (about 13 µs of CPU of an HS256 data-API read). What can change between two requests is still checked
 * on every one by the caller: expiry and not-before against its clock, the key's retirement, and
 * (AuthService) the session and the user.
 *
 * Keyed by the token string itself, so only the exact token that verified is a hit (no digest whose
 * collisions could matter, and none to compute). Not fast-jwt's own cache: that one keys each token by
 * its SHA-256, computed on every lookup, and sits after restauth's kid lookup.
 *
 * Bounded: past `capacity` tokens the oldest is forgotten, and a token longer than `maxTokenLength` is
 * not kept, so the cache holds at most capacity × maxTokenLength characters of tokens and their claims.
 * The claims are frozen (deeply) before they are kept: every caller gets the same object, so none may
 * change it for the next.
 */
export class VerifiedTokens<Key> {
  private readonly entries = new Map<string, { key: Key; payload: JWTPayload }>();

  constructor(
    private readonly capacity = 1000,
    private readonly maxTokenLength = 4096,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string): { key: Key; payload: JWTPayload } | undefined {
    return this.entries.get(token);
  }

  /** Keeps a verified token; answers its claims, frozen. */
  remember(token: string, key: Key, payload: JWTPayload): JWTPayload {
    deepFreeze(payload);
    if (token.length > this.maxTokenLength || this.capacity <= 0) return payload;
    if (this.entries.size >= this.capacity) {
      // A Map iterates in insertion order: the first key is the oldest.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { key, payload });
    return payload;
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
