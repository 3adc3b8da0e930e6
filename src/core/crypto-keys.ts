import { webcrypto, type KeyObject } from 'node:crypto';
import type { LoadedKey } from './signing-keys.js';

const WEBCRYPTO_ALGORITHMS: Record<
  LoadedKey['alg'],
  | webcrypto.AlgorithmIdentifier
  | webcrypto.RsaHashedImportParams
  | webcrypto.EcKeyImportParams
  | webcrypto.HmacImportParams
> = {
  HS256: { name: 'HMAC', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
};

const imported = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey>>();

/**
 * The key as a WebCrypto CryptoKey, imported once. jose signs and verifies
 * with WebCrypto: handed a KeyObject it converts it on every call, which
 * measured 86 µs per HS256 signature against 39 µs with a CryptoKey.
 */
export function cryptoKeyOf(key: KeyObject, alg: LoadedKey['alg']): Promise<webcrypto.CryptoKey> {
  let cached = imported.get(key);
  if (!cached) {
    const algorithm = WEBCRYPTO_ALGORITHMS[alg];
    cached =
      key.type === 'secret'
        ? webcrypto.subtle.importKey('raw', key.export(), algorithm, false, ['sign', 'verify'])
        : key.type === 'private'
          ? webcrypto.subtle.importKey(
              'pkcs8',
              key.export({ type: 'pkcs8', format: 'der' }),
              algorithm,
              false,
              ['sign'],
            )
          : webcrypto.subtle.importKey(
              'spki',
              key.export({ type: 'spki', format: 'der' }),
              algorithm,
              false,
              ['verify'],
            );
    imported.set(key, cached);
  }
  return cached;
}
