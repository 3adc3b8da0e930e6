import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { datedAhead } from './clock-skew.js';
import { jsonParseProblem } from '../lib/json-parse-problem.js';

export type AsymmetricAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

/** A configured asymmetric key: PEM (PKCS#8 / SPKI) or a JWK, as a string or an object. */
export interface KeySpec {
  kid: string;
  alg: AsymmetricAlgorithm;
  /** Absent for a verify-only key (an old key kept during rotation). */
  privateKey?: string | Record<string, unknown> | null;
  publicKey?: string | Record<string, unknown> | null;
  /** An ISO date from which the key no longer verifies (a key retired by rotation); absent: never. */
  retireAt?: string | null;
  /**
   * When `keys rotate` retired it (an ISO date, by the rotating machine's clock); absent in files
   * written before it was kept. See isRetired.
   */
  retiredAt?: string | null;
}

/** One key restauth can verify with, bound to its single algorithm (no algorithm confusion). */
export interface LoadedKey {
  kid: string | null;
  alg: AsymmetricAlgorithm | 'HS256';
  verifyKey: KeyObject;
  signKey: KeyObject | null;
  /** From then on the key verifies nothing (see KeySpec.retireAt). */
  retireAt: Date | null;
  /** When rotation retired it (see KeySpec.retiredAt). */
  retiredAt: Date | null;
}

const KEY_TYPES: Record<AsymmetricAlgorithm, (key: KeyObject) => boolean> = {
  RS256: (key) => key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048,
  ES256: (key) => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1',
  EdDSA: (key) => key.asymmetricKeyType === 'ed25519',
};

function parse(material: string | Record<string, unknown>, kind: 'private' | 'public'): KeyObject {
  const load = kind === 'private' ? createPrivateKey : createPublicKey;
  if (typeof material === 'string' && !material.trim().startsWith('{')) return load(material);
  const jwk = (typeof material === 'string' ? JSON.parse(material) : material) as JsonWebKey;
  return load({ key: jwk, format: 'jwk' });
}

/** Loads and checks one configured key; errors name the kid. */
export function loadKey(spec: KeySpec): LoadedKey {
  try {
    const signKey = spec.privateKey ? parse(spec.privateKey, 'private') : null;
    const verifyKey = signKey
      ? createPublicKey(signKey)
      : spec.publicKey
        ? parse(spec.publicKey, 'public')
        : null;
    if (!verifyKey) throw new Error('needs a privateKey or a publicKey');
    if (!KEY_TYPES[spec.alg](verifyKey)) {
      throw new Error(
        `is not a ${spec.alg} key (RS256: RSA of 2048 bits or more, ES256: P-256, EdDSA: Ed25519)`,
      );
    }
    const retireAt = dateOf(spec.retireAt, 'retireAt');
    const retiredAt = dateOf(spec.retiredAt, 'retiredAt');
    return { kid: spec.kid, alg: spec.alg, verifyKey, signKey, retireAt, retiredAt };
  } catch (error) {
    // A JWK that is not JSON: V8's message (and so the error as a cause) quotes the key's text.
    const quotesKey = error instanceof SyntaxError;
    throw new Error(`jwt key "${spec.kid}" ${jsonParseProblem(error)}`, quotesKey ? {} : { cause: error });
  }
}

function dateOf(value: string | null | undefined, field: 'retireAt' | 'retiredAt'): Date | null {
  if (!value) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new Error(`has a ${field} that is not a date (${JSON.stringify(value)})`);
  return date;
}

export function hmacKey(secret: string, kid: string | null = null): LoadedKey {
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return { kid, alg: 'HS256', verifyKey: key, signKey: key, retireAt: null, retiredAt: null };
}

/**
 * Whether a key verifies nothing at `now`: its grace period is over, or its rotation is dated ahead of
 * now (datedAhead). The latter is a clock set back since the rotation (an NTP step, a restored VM), or
 * a rotating machine whose clock was ahead: either way retireAt, counted on another clock, would keep
 * the key verifying for the difference's length longer, so the key is taken as retired, as an access
 * token or a code dated ahead is taken as old.
 */
export function isRetired(key: Pick<LoadedKey, 'retireAt' | 'retiredAt'>, now: Date): boolean {
  if (key.retireAt !== null && key.retireAt.getTime() <= now.getTime()) return true;
  return key.retiredAt !== null && datedAhead(key.retiredAt, now);
}
