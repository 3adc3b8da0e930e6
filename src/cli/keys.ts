import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { exportJWK } from 'jose';
import { parseDuration } from '../config/duration.js';
import { loadConfig } from '../config/load.js';
import { resolveJwtSecret } from '../config/secret.js';
import type { AsymmetricAlgorithm } from '../core/signing-keys.js';
import { TokenService } from '../core/tokens.js';
import { rotateKeys } from './rotate-keys.js';

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
  keys
    .command('service-token')
    .description(
      'print a role token: the service role (admin API) or anon (supabase-js anon key); it cannot be revoked before it expires',
    )
    .option('-c, --config <file>', 'config file')
    .option('-e, --expires-in <duration>', 'lifetime, e.g. 1h, 30d, 1y', parseLifetime, 3600)
    .option(
      '-r, --role <role>',
      "the token's role (default: roles.service; e.g. anon for supabase-js's anon key)",
    )
    .action(async (options: { config?: string; expiresIn: number; role?: string }) => {
      const loaded = await loadConfig(options.config ? { configFile: options.config } : {});
      const config = await resolveJwtSecret(loaded, { warn: (message) => console.error(message) });
      const tokens = new TokenService({ ...config.jwt, keys: config.jwt.keys.map((key) => ({ ...key })) });
      const role = options.role ?? config.roles.service;
      console.log(await tokens.signRoleToken(role, options.expiresIn, new Date()));
    });
  keys
    .command('rotate')
    .description(
      'add a new signing key to restauth.json and retire the one that signs now after a grace period (tokens it signed keep verifying until then); restart restauth to use it',
    )
    .option('-c, --config <file>', 'the restauth.json holding jwt.keys (default: ./restauth.json)')
    .addOption(
      new Option('-a, --alg <alg>', "algorithm (default: the current key's)").choices([
        'ES256',
        'RS256',
        'EdDSA',
      ]),
    )
    .option('-k, --kid <kid>', 'key id of the new key (default: random)')
    .option(
      '-g, --grace <duration>',
      'how long the old key keeps verifying, e.g. 1h, 2d (default: the access token lifetime)',
      parseLifetime,
    )
    .action(async (options: { config?: string; alg?: AsymmetricAlgorithm; kid?: string; grace?: number }) => {
      const result = await rotateKeys({
        configFile: options.config ?? 'restauth.json',
        alg: options.alg,
        kid: options.kid,
        graceSeconds: options.grace,
        now: new Date(),
      });
      console.log(`new signing key ${result.kid} (${result.alg}) written to ${result.file}`);
      for (const retired of result.retiring) {
        console.log(`key ${retired.kid} signs no more and verifies until ${retired.retireAt}`);
      }
      for (const kid of result.removed) console.log(`key ${kid} was retired and is removed`);
      console.log('restart every restauth instance to sign with it.');
      console.log(
        "\n// The JWKS (public) of the keys that verify now, e.g. PostgREST: jwt-secret = '<this JSON>':",
      );
      console.log(JSON.stringify(result.jwks));
    });
  return keys;
}

function parseLifetime(value: string): number {
  const parsed = parseDuration(value);
  if ('error' in parsed) throw new InvalidArgumentError(parsed.error);
  return parsed.seconds;
}
