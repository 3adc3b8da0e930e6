import { createHmac } from 'node:crypto';
import {
  decodeProtectedHeader,
  exportJWK,
  SignJWT,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import { cryptoKeyOf } from './crypto-keys.js';
import { checkTimes, keyVerifier, TokenError, type ClaimRules, type KeyVerifier } from './jwt-verifier.js';
import { hmacKey, isRetired, loadKey, type KeySpec, type LoadedKey } from './signing-keys.js';
import { VerifiedTokens } from './verified-tokens.js';

export { TokenError } from './jwt-verifier.js';

export interface TokenSettings {
  /** HS256 secret (what PostgREST's jwt-secret takes); null when only asymmetric keys are used. */
  secret: string | null;
  /**
   * kid in the header of the tokens the secret signs (GoTrue's JWT_KEY_ID). Tokens naming it, or no
   * kid at all (signed before it was set), verify with the secret.
   */
  secretKeyId?: string | null;
  /** Asymmetric keys: one signs, all verify (rotation). */
  keys?: KeySpec[];
  /** kid of the key that signs; default: the first key with a private key, else the HS256 secret. */
  signingKeyId?: string | null;
  accessTokenTtl: number;
  clockTolerance: number;
  issuer: string | null;
  audience: string | null;
}

/** The claims restauth puts in every access token; dialects may add more. */
export interface AccessClaims extends JWTPayload {
  sub: string;
  role: string;
  session_id: string;
  token_version: number;
  iat: number;
  exp: number;
}

/**
 * Issues and verifies access tokens: HS256 from the secret by default, or
 * RS256 / ES256 / EdDSA keys with a `kid`. Each key verifies only its own
 * algorithm, so an HS256 token signed with a public key, `alg: none`, or a
 * token naming an unknown kid is refused.
 */
export class TokenService {
  private readonly signer: LoadedKey;
  /** The signer's protected header, base64url-encoded (signPayload). */
  private headerSegment: string | null = null;
  private readonly byKid = new Map<string, LoadedKey>();
  private readonly hmac: LoadedKey | null;
  /** Each key's verifier, bound to its algorithm (see jwt-verifier.ts). */
  private readonly verifiers = new Map<LoadedKey, KeyVerifier>();
  /** Tokens seen verified: their signatures are not checked again (see verified-tokens.ts). */
  private readonly verified = new VerifiedTokens<LoadedKey>();
  private readonly rules: ClaimRules;

  constructor(private readonly settings: TokenSettings) {
    this.hmac = settings.secret ? hmacKey(settings.secret, settings.secretKeyId ?? null) : null;
    for (const spec of settings.keys ?? []) {
      if (this.byKid.has(spec.kid)) throw new Error(`jwt key "${spec.kid}" is configured twice`);
      this.byKid.set(spec.kid, loadKey(spec));
    }
    if (this.hmac?.kid) {
      if (this.byKid.has(this.hmac.kid)) throw new Error(`jwt key "${this.hmac.kid}" is configured twice`);
      this.byKid.set(this.hmac.kid, this.hmac);
    }
    const wanted = settings.signingKeyId;
    const signer = wanted
      ? this.byKid.get(wanted)
      : ([...this.byKid.values()].find((key) => key.signKey !== null) ?? this.hmac ?? undefined);
    if (!signer?.signKey) {
      throw new Error(
        wanted
          ? `jwt signing key "${wanted}" is not configured with a private key`
          : 'no jwt secret or signing key',
      );
    }
    if (signer.retireAt !== null || signer.retiredAt !== null) {
      // From its retireAt on, every token it signed would be refused: an outage nothing logs.
      throw new Error(
        `jwt signing key "${signer.kid}" is retiring (it has a retireAt): it verifies until then but signs nothing; sign with another key (jwt.signingKeyId) or remove its retireAt`,
      );
    }
    this.signer = signer;
    const rules = {
      clockTolerance: settings.clockTolerance,
      issuer: settings.issuer,
      audience: settings.audience,
    };
    this.rules = rules;
    for (const key of [...this.byKid.values(), ...(this.hmac ? [this.hmac] : [])]) {
      if (!this.verifiers.has(key)) this.verifiers.set(key, keyVerifier(key, rules));
    }
  }

  /** The public keys, for /.well-known/jwks.json and PostgREST's jwt-secret. */
  async jwks(now = new Date()): Promise<{ keys: JWK[] }> {
    const keys: JWK[] = [];
    for (const key of this.byKid.values()) {
      // A shared secret is never published.
      if (isRetired(key, now) || key.alg === 'HS256') continue;
      keys.push({ ...(await exportJWK(key.verifyKey)), kid: key.kid as string, alg: key.alg, use: 'sig' });
    }
    return { keys };
  }

  get accessTokenTtl(): number {
    return this.settings.accessTokenTtl;
  }

  /** Signs an access token valid for accessTokenTtl, or only until `notAfter` (its session's end) when sooner. */
  async sign(
    claims: Omit<AccessClaims, 'iat' | 'exp'> & Record<string, unknown>,
    now: Date,
    notAfter?: Date,
  ): Promise<AccessClaims & { token: string }> {
    const iat = Math.floor(now.getTime() / 1000);
    const ttlEnd = iat + this.settings.accessTokenTtl;
    const exp = notAfter === undefined ? ttlEnd : Math.min(ttlEnd, Math.floor(notAfter.getTime() / 1000));
    const payload: Record<string, unknown> = { ...claims, iat, exp };
    if (this.settings.issuer !== null && payload.iss === undefined) payload.iss = this.settings.issuer;
    if (this.settings.audience !== null && payload.aud === undefined) payload.aud = this.settings.audience;
    const token = await this.signPayload(payload);
    return { ...(payload as AccessClaims), token };
  }

  /** Verifies signature, algorithm, expiry (with the clock tolerance), issuer and audience. */
  async verify(token: string, now: Date): Promise<AccessClaims> {
    return this.verifyNow(token, now);
  }

  /**
   * verify, synchronously: a refusal is thrown. For callers that are async themselves (AuthService's
   * checks, on every authenticated request): no promise of its own to make and wait for.
   */
  verifyNow(token: string, now: Date): AccessClaims {
    const payload = this.verifySigned(token, now);
    if (
      typeof payload.sub !== 'string' ||
      typeof payload.session_id !== 'string' ||
      typeof payload.token_version !== 'number' ||
      typeof payload.exp !== 'number'
    ) {
      throw new TokenError('bad_jwt', 'jwt malformed');
    }
    return payload as AccessClaims;
  }

  /**
   * Signs a token of a role and no user or session, like Supabase's
   * service_role key: what admin clients present. It cannot be revoked
   * before it expires, so keep its lifetime short or rotate the key.
   */
  async signRoleToken(role: string, ttlSeconds: number, now: Date): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    const payload: Record<string, unknown> = { role, iat, exp: iat + ttlSeconds };
    if (this.settings.issuer !== null) payload.iss = this.settings.issuer;
    if (this.settings.audience !== null) payload.aud = this.settings.audience;
    return this.signPayload(payload);
  }

  /** Verifies a token like `verify`, then requires its `role` claim to be `role` (admin routes). */
  async verifyRole(token: string, role: string, now: Date): Promise<JWTPayload> {
    const payload = this.verifySigned(token, now);
    // A user's token never qualifies, whatever its role claim: role tokens belong to no session.
    if (payload['role'] !== role || payload['session_id'] !== undefined || typeof payload.exp !== 'number') {
      throw new TokenError('bad_jwt', 'wrong role');
    }
    return payload;
  }

  /**
   * A compact JWS of `payload`. HS256 is signed here with node:crypto's HMAC, on the event loop: 5-7×
   * cheaper than jose's WebCrypto signature, which is a job on libuv's thread pool (shared with the
   * password hashes and the file store's fdatasyncs, so it can also wait behind them) and a promise's
   * hops. The token is byte for byte what jose's SignJWT makes (test/core/tokens.test.ts). Asymmetric
   * keys still sign through jose: an RSA signature takes a millisecond, better off the loop.
   */
  private async signPayload(payload: Record<string, unknown>): Promise<string> {
    if (this.signer.alg !== 'HS256') {
      return new SignJWT(payload)
        .setProtectedHeader(this.protectedHeader())
        .sign(await cryptoKeyOf(this.signer.signKey!, this.signer.alg));
    }
    // The header's segment is the same for every token this service signs: encoded once.
    this.headerSegment ??= base64url(this.protectedHeader());
    const signingInput = `${this.headerSegment}.${base64url(payload)}`;
    const signature = createHmac('sha256', this.signer.signKey!).update(signingInput).digest('base64url');
    return `${signingInput}.${signature}`;
  }

  /** The header of every token this service signs: the signing key's algorithm, and its kid when it has one. */
  private protectedHeader(): JWTHeaderParameters {
    return { alg: this.signer.alg, typ: 'JWT', ...(this.signer.kid ? { kid: this.signer.kid } : {}) };
  }

  // Synchronous: its callers are async, so a refusal is still their rejection, with one promise fewer
  // on every authenticated request.
  private verifySigned(token: string, now: Date): JWTPayload {
    const seen = this.verified.get(token);
    if (seen) {
      // Its signature held under this key, and its claims' issuer, audience and types were checked then
      // (they are frozen): what depends on the time is checked again.
      if (isRetired(seen.key, now)) throw new TokenError('bad_jwt', 'retired key');
      checkTimes(seen.payload, now, this.rules.clockTolerance);
      return seen.payload;
    }
    const key = this.verifierFor(token);
    // A key retired by rotation verifies nothing once its grace period is over.
    if (isRetired(key, now)) throw new TokenError('bad_jwt', 'retired key');
    return this.verified.remember(token, key, this.verifiers.get(key)!(token, now));
  }

  private verifierFor(token: string): LoadedKey {
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new TokenError('bad_jwt', 'jwt malformed');
    }
    const key = kid === undefined ? this.hmac : typeof kid === 'string' ? this.byKid.get(kid) : undefined;
    if (!key) throw new TokenError('bad_jwt', kid === undefined ? 'invalid algorithm' : 'unknown key id');
    return key;
  }
}

function base64url(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
