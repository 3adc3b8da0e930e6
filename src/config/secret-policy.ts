import { ConfigError } from './errors.js';

/**
 * No publicly known or short secret signs or verifies a token outside
 * development mode (DESIGN, Principles). A secret anyone can look up lets
 * anyone forge a service-role token; a short one can be brute-forced offline
 * from a single token.
 */

/** HS256 needs a key at least as long as its hash (RFC 7518 §3.2): 256 bits. */
export const MIN_SECRET_BYTES = 32;

/**
 * Secrets published in the documents of the systems restauth replaces, in
 * its own examples and in widely copied tutorials. Compared exactly: a
 * secret is either one of these or it is not known.
 */
export const PUBLISHED_SECRETS: ReadonlyMap<string, string> = new Map([
  ['DefaultJWTSecretString-LOL', "json-data-server's published default"],
  ['secret', "postgrest-auth's example"],
  ['a long random secret', "restauth's documentation example"],
  ['a long random secret shared with PostgREST', "restauth's documentation example"],
  ['<output of: openssl rand -base64 48>', "restauth's documentation placeholder"],
  ['super-secret-jwt-token-with-at-least-32-characters-long', "Supabase's self-hosting example"],
  ['reallyreallyreallyreallyverysafe', "PostgREST's tutorial example"],
]);

/** Why `secret` must not be used outside development mode, or null when it is fine. */
export function secretWeakness(secret: string): string | null {
  const published = PUBLISHED_SECRETS.get(secret);
  if (published !== undefined) return `is ${published}, so anyone can forge tokens with it`;
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_SECRET_BYTES) {
    return `is ${bytes} bytes long; at least ${MIN_SECRET_BYTES} are needed so that it cannot be guessed`;
  }
  return null;
}

export interface SecretCheck {
  /** The configured secret, null when none is (a development secret will be generated). */
  secret: string | null;
  /** Where it was set, as the user wrote it: "config.json: auth.jwtSecret", "RESTAUTH_JWT_SECRET", "--secret". */
  key: string;
  development: boolean;
  warn: (message: string) => void;
}

const FIX =
  'Set it to a long random value, e.g. `openssl rand -base64 48` (tokens signed with the old one stop working), ' +
  'or set RESTAUTH_DEV=1 (or --dev) to accept it for local development only.';

/** Throws a ConfigError naming the key, or, in development mode, warns. */
export function checkSecret({ secret, key, development, warn }: SecretCheck): void {
  if (secret === null) return;
  const weakness = secretWeakness(secret);
  if (weakness === null) return;
  if (!development) throw new ConfigError(`${key} ${weakness}. ${FIX}`);
  warn(`${key} ${weakness}; accepted because development mode is on (RESTAUTH_DEV / --dev).`);
}
