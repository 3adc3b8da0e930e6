import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { AuthError, type ErrorCode } from './errors.js';

export interface TokenSettings {
  secret: string;
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
 * Why a token was refused, in the words json-data-server clients know from
 * jsonwebtoken ("jwt expired", "invalid signature", ...), with the registry code.
 */
export class TokenError extends AuthError {
  constructor(
    code: ErrorCode,
    readonly reason: string,
  ) {
    super(code, reason);
  }
}

const ALGORITHM = 'HS256';

/**
 * Issues and verifies access tokens. All key handling stays in this file so
 * asymmetric keys (with kid and a JWKS) can replace the HS256 secret later
 * without touching callers.
 */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(private readonly settings: TokenSettings) {
    this.key = new TextEncoder().encode(settings.secret);
  }

  get accessTokenTtl(): number {
    return this.settings.accessTokenTtl;
  }

  async sign(
    claims: Omit<AccessClaims, 'iat' | 'exp'> & Record<string, unknown>,
    now: Date,
  ): Promise<AccessClaims & { token: string }> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.settings.accessTokenTtl;
    const payload: Record<string, unknown> = { ...claims, iat, exp };
    if (this.settings.issuer !== null && payload.iss === undefined) payload.iss = this.settings.issuer;
    if (this.settings.audience !== null && payload.aud === undefined) payload.aud = this.settings.audience;
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .sign(this.key);
    return { ...(payload as AccessClaims), token };
  }

  /** Verifies signature, algorithm, expiry (with the clock tolerance), issuer and audience. */
  async verify(token: string, now: Date): Promise<AccessClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        clockTolerance: this.settings.clockTolerance,
        currentDate: now,
        ...(this.settings.issuer !== null ? { issuer: this.settings.issuer } : {}),
        ...(this.settings.audience !== null ? { audience: this.settings.audience } : {}),
      }));
    } catch (error) {
      throw toTokenError(error);
    }
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
}

function toTokenError(error: unknown): TokenError {
  if (error instanceof joseErrors.JWTExpired) return new TokenError('token_expired', 'jwt expired');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return new TokenError('bad_jwt', 'invalid signature');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new TokenError('bad_jwt', 'jwt not active');
    return new TokenError('bad_jwt', `jwt ${error.claim} invalid`);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new TokenError('bad_jwt', 'invalid algorithm');
  return new TokenError('bad_jwt', 'jwt malformed');
}
