import { createVerifier, TokenError as FastJwtError } from 'fast-jwt';
import type { JWTPayload } from 'jose';
import { AuthError, type ErrorCode } from './errors.js';
import type { LoadedKey } from './signing-keys.js';

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

export interface ClaimRules {
  /** Seconds of clock skew allowed on exp and nbf. */
  clockTolerance: number;
  issuer: string | null;
  audience: string | null;
}

/** Verifies a compact JWS with one key and returns its claims, or throws a TokenError. */
export type KeyVerifier = (token: string, now: Date) => JWTPayload;

/**
 * A verifier bound to one key and its single algorithm, on fast-jwt: it
 * verifies with node:crypto synchronously (HS256 about 8 µs), where jose
 * verifies through WebCrypto, whose every call is a job on libuv's thread
 * pool (HS256 about 47 µs and a thread hop per data-API request).
 * fast-jwt decodes the token, refuses any algorithm but the key's (so `none`,
 * HS256 signed with a public key, HS512 ...), checks the signature and
 * refuses `crit` extensions (restauth understands none; "jwt malformed", as jose answered). The claims are
 * checked here against the caller's clock (fast-jwt reads its own), with
 * jose's rules, which restauth used before: the same tokens pass and fail.
 */
export function keyVerifier(key: LoadedKey, rules: ClaimRules): KeyVerifier {
  const verify = createVerifier({
    key:
      key.alg === 'HS256'
        ? key.verifyKey.export()
        : (key.verifyKey.export({ type: 'spki', format: 'pem' }) as string),
    algorithms: [key.alg],
    // Checked by checkClaims against the injected clock.
    ignoreExpiration: true,
    ignoreNotBefore: true,
    // fast-jwt's cache off: TokenService keeps the tokens it verified itself (verified-tokens.ts).
    cache: false,
  });
  return (token, now) => {
    let payload: JWTPayload;
    try {
      payload = verify(token) as JWTPayload;
    } catch (error) {
      throw toTokenError(error);
    }
    checkClaims(payload, now, rules);
    return payload;
  };
}

function toTokenError(error: unknown): TokenError {
  if (!(error instanceof FastJwtError)) return new TokenError('bad_jwt', 'jwt malformed');
  switch (error.code) {
    case FastJwtError.codes.invalidAlgorithm:
      return new TokenError('bad_jwt', 'invalid algorithm');
    case FastJwtError.codes.invalidSignature:
    case FastJwtError.codes.missingSignature:
      return new TokenError('bad_jwt', 'invalid signature');
    default:
      return new TokenError('bad_jwt', 'jwt malformed');
  }
}

/** jose's checks of a claims set (jwt_claims_set.js), against `now`, with restauth's messages. */
export function checkClaims(payload: JWTPayload, now: Date, rules: ClaimRules): void {
  const invalid = (claim: string) => new TokenError('bad_jwt', `jwt ${claim} invalid`);
  if (rules.issuer !== null && payload.iss !== rules.issuer) throw invalid('iss');
  if (rules.audience !== null) {
    const { aud } = payload;
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!audiences.includes(rules.audience)) throw invalid('aud');
  }
  for (const claim of ['iat', 'nbf', 'exp'] as const) {
    const value = payload[claim];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw invalid(claim);
  }
  checkTimes(payload, now, rules.clockTolerance);
}

/**
 * The part of checkClaims that depends on the time: not before nbf, before exp, not issued ahead of
 * now (each a finite number or absent, as checkClaims made sure). All a token verified before needs
 * checked again.
 */
export function checkTimes(payload: JWTPayload, now: Date, clockTolerance: number): void {
  const seconds = Math.floor(now.getTime() / 1000);
  if (payload.nbf !== undefined && payload.nbf > seconds + clockTolerance)
    throw new TokenError('bad_jwt', 'jwt not active');
  if (payload.exp !== undefined && payload.exp <= seconds - clockTolerance)
    throw new TokenError('token_expired', 'jwt expired');
  // Issued ahead of now: before the clock went back, so its expiry lies the whole jump further off than
  // its lifetime (an hour's token would work for a day more). Its refresh token gets a new one.
  if (payload.iat !== undefined && payload.iat > seconds + Math.max(clockTolerance, ISSUED_AHEAD_ALLOWANCE))
    throw new TokenError('bad_jwt', 'jwt issued in the future');
}

/** Seconds a token's iat may lie ahead of now at least: instances' clocks differ a little. */
const ISSUED_AHEAD_ALLOWANCE = 30;
