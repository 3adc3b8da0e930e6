import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { exportJWK } from 'jose';
import type { AsymmetricAlgorithm } from '../core/signing-keys.js';

const GENERATORS: Record<AsymmetricAlgorithm, () => ReturnType<typeof generateKeyPairSync>> = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: () => generateKeyPairSync('ed25519'),
};

/**
 * A new signing key: the entry to add to `jwt.keys` (private JWK) and the
 * JWKS to give PostgREST (`jwt-secret`) or any other verifier.
 */
export async function generateKey(alg: AsymmetricAlgorithm, kid: string) {
  const { privateKey, publicKey } = GENERATORS[alg]();
  const meta = { kid, alg, use: 'sig' };
  return {
    configEntry: { kid, alg, privateKey: { ...(await exportJWK(privateKey)), ...meta } },
    jwks: { keys: [{ ...(await exportJWK(publicKey)), ...meta }] },
  };
}

export function keysCommand(): Command {
  const keys = new Command('keys').description('manage the keys that sign access tokens');
  keys
    .command('generate')
    .description('print a new signing key for jwt.keys, and the JWKS to give PostgREST (jwt-secret)')
    .addOption(
      new Option('-a, --alg <alg>', 'algorithm').choices(['ES256', 'RS256', 'EdDSA']).default('ES256'),
    )
    .option('-k, --kid <kid>', 'key id (default: random)')
    .action(async (options: { alg: AsymmetricAlgorithm; kid?: string }) => {
      const kid = options.kid ?? randomBytes(8).toString('hex');
      const { configEntry, jwks } = await generateKey(options.alg, kid);
      console.log(
        '// Add to "jwt": { "keys": [ ... ] } in restauth.json (keep it secret; older keys stay to verify):',
      );
      console.log(JSON.stringify(configEntry, null, 2));
      console.log(
        "\n// The JWKS (public), e.g. PostgREST: jwt-secret = '<this JSON>'; also served at /auth/v1/.well-known/jwks.json",
      );
      console.log(JSON.stringify(jwks));
    });
  return keys;
}
