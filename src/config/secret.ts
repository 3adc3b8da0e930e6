import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import { deepFreeze } from './freeze.js';
import { readableByOthers } from './readable-secrets.js';
import type { Config } from './schema.js';

export interface SecretLogger {
  warn(message: string): void;
}

const JWT_SECRET_FILE = 'jwt-secret';

async function readSecret(path: string): Promise<string | null> {
  try {
    const secret = (await readFile(path, 'utf8')).trim();
    return secret === '' ? null : secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(`cannot read the generated jwt secret ${path}: ${(error as Error).message}`);
  }
}

/** Reads the kept development secret, or creates it (0600) if there is none yet. */
async function developmentSecret(
  stateDir: string,
  logger: SecretLogger,
): Promise<{ secret: string; path: string }> {
  const path = join(stateDir, JWT_SECRET_FILE);
  const existing = await readSecret(path);
  if (existing !== null) {
    if (await readableByOthers(path)) logger.warn(`${path} is readable by other users: chmod 600 it`);
    return { secret: existing, path };
  }
  const secret = randomBytes(48).toString('base64url');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // Two instances starting together must not each use a secret of their own, nor read the other's
  // file before its content is in it (an exclusive create is visible empty until the write lands):
  // the secret is written to a file of this process's own, then published whole by link(), which
  // fails with EEXIST for whichever instance comes second.
  const draft = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(draft, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    await link(draft, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError(`cannot write the generated jwt secret ${path}: ${(error as Error).message}`);
    }
    const winner = await readSecret(path);
    if (winner === null) throw new ConfigError(`${path} is empty: delete it or set RESTAUTH_JWT_SECRET`);
    return { secret: winner, path };
  } finally {
    await rm(draft, { force: true });
  }
  return { secret, path };
}

/**
 * The configuration with a usable `jwt.secret`. When none is configured, a
 * development secret is generated once and kept in `<stateDir>/jwt-secret`, so
 * tokens survive restarts; start-up says so. With asymmetric keys configured
 * nothing is generated: a secret nobody configured must not verify tokens
 * beside them. (A published or short secret never gets here outside
 * development mode: load.ts refuses it, config/secret-policy.ts.)
 */
export async function resolveJwtSecret(config: Config, logger: SecretLogger): Promise<Config> {
  if (config.jwt.secret !== null || config.jwt.keys.length > 0) return config;
  const { secret, path } = await developmentSecret(config.stateDir, logger);
  logger.warn(
    `no jwt secret configured: using a generated development secret kept in ${path} ` +
      '(set RESTAUTH_JWT_SECRET or jwt.secret for production; the admin API stays off until you do)',
  );
  const copy = structuredClone(config);
  copy.jwt.secret = secret;
  copy.jwt.generatedSecret = true;
  return deepFreeze(copy);
}
