import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

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
}

/** One key restauth can verify with, bound to its single algorithm (no algorithm confusion). */
export interface LoadedKey {
  kid: string | null;
  alg: AsymmetricAlgorithm | 'HS256';
  verifyKey: KeyObject;
  signKey: KeyObject | null;
  /** From then on the key verifies nothing (see KeySpec.retireAt). */
  retireAt: Date | null;
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
    const retireAt = spec.retireAt ? new Date(spec.retireAt) : null;
    if (retireAt !== null && Number.isNaN(retireAt.getTime())) {
      throw new Error(`has a retireAt that is not a date (${JSON.stringify(spec.retireAt)})`);
    }
    return { kid: spec.kid, alg: spec.alg, verifyKey, signKey, retireAt };
  } catch (error) {
    throw new Error(`jwt key "${spec.kid}" ${(error as Error).message}`, { cause: error });
  }
}

export function hmacKey(secret: string, kid: string | null = null): LoadedKey {
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return { kid, alg: 'HS256', verifyKey: key, signKey: key, retireAt: null };
}
