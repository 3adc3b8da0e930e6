import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { applyEdits, modify } from 'jsonc-parser';
import { exportJWK } from 'jose';
import { loadConfig } from '../config/load.js';
import { CLOCK_SKEW_MS, datedAhead } from '../core/clock-skew.js';
import { loadKey, type AsymmetricAlgorithm, type KeySpec } from '../core/signing-keys.js';
import { TokenService } from '../core/tokens.js';
import { FileChangedError, removeLeftoverTempFiles, writeFileAtomically } from '../lib/atomic-write.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors.js';
import { generateKey } from './keys.js';

export interface RotateOptions {
  /** restauth.json, relative to cwd. */
  configFile: string;
  /** Default: the algorithm of the key that signs now. */
  alg?: AsymmetricAlgorithm | undefined;
  kid?: string | undefined;
  /** Default: the access token lifetime plus the clock tolerance, so every token it signed expires first. */
  graceSeconds?: number | undefined;
  now: Date;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RotateResult {
  file: string;
  kid: string;
  alg: AsymmetricAlgorithm;
  retiring: Array<{ kid: string; retireAt: string }>;
  removed: string[];
  jwks: Awaited<ReturnType<TokenService['jwks']>>;
}

/**
 * Key rotation in restauth.json: a new key signs from the next start on; the
 * key that signed until now loses its private key (it signs nothing more) and
 * verifies until `retireAt`, a grace period later, so the tokens it signed
 * live out their lifetime; `retiredAt` dates the rotation, so a server whose
 * clock is set back behind it takes the key as retired (signing-keys.ts
 * isRetired); keys whose retirement has passed are removed.
 * The file is edited in place (comments and layout kept) and replaced atomically,
 * only if no one changed it since the rotation read it: an operator's edit
 * saved meanwhile, or a second rotation, is never overwritten.
 */
export async function rotateKeys(options: RotateOptions): Promise<RotateResult> {
  const cwd = options.cwd ?? process.cwd();
  const file = resolve(cwd, options.configFile);
  // Before anything is read: a change made from here on refuses the write.
  const { ino, mtimeMs, size, mode } = await stat(file).catch(() => ({
    ino: 0,
    mtimeMs: 0,
    size: 0,
    mode: 0,
  }));
  // The whole configuration must load: a rotation never writes next to a setup that cannot start.
  const config = await loadConfig({ configFile: file, cwd, ...(options.env ? { env: options.env } : {}) });
  if (config.source !== 'restauth') {
    throw new CliError(
      `${options.configFile} is a ${config.source} file: keys rotate edits jwt.keys in a restauth.json`,
      EXIT_USAGE,
    );
  }
  const { keys, signingKeyId } = config.jwt;
  const signer = keys.find((key) => (signingKeyId ? key.kid === signingKeyId : Boolean(key.privateKey)));
  if (!signer?.privateKey) {
    throw new CliError(
      `${options.configFile} has no signing key in jwt.keys (tokens are signed with jwt.secret): add one with \`restauth keys generate\` first`,
      EXIT_USAGE,
    );
  }
  const alg = options.alg ?? signer.alg;
  const kid = options.kid ?? randomBytes(8).toString('hex');
  if (keys.some((key) => key.kid === kid))
    throw new CliError(`jwt.keys already has a key "${kid}"`, EXIT_USAGE);
  // A key retired on a clock further ahead than instances' clocks differ: this machine's clock is behind
  // the one that rotated before, and the retireAt it would write may already be past on the servers (the
  // old key refused at once, live access tokens with it).
  const ahead = keys.find((key) => key.retiredAt && datedAhead(new Date(key.retiredAt), options.now));
  if (ahead) {
    throw new CliError(
      `jwt key "${ahead.kid}" was retired at ${ahead.retiredAt}, ahead of this machine's clock (${options.now.toISOString()}): set the clock right (or rotate on the machine that rotated before)`,
      EXIT_USAGE,
    );
  }
  const graceSeconds = options.graceSeconds ?? config.jwt.accessTokenTtl + config.jwt.clockTolerance;
  if (!(graceSeconds > 0)) {
    throw new CliError(
      '--grace must be longer than 0: a key retired at once refuses the tokens it signed (remove it from jwt.keys by hand to stop it verifying now)',
      EXIT_USAGE,
    );
  }
  const retiredAt = options.now.toISOString();
  const retireAt = new Date(options.now.getTime() + graceSeconds * 1000).toISOString();

  const removed: string[] = [];
  const retiring: RotateResult['retiring'] = [];
  const next: KeySpec[] = [];
  for (const key of keys) {
    const spec = { ...key } as KeySpec;
    // Past by more than instances' clocks differ: a machine whose clock is a little ahead removes no key
    // the servers still take in its grace.
    if (spec.retireAt && Date.parse(spec.retireAt) <= options.now.getTime() - CLOCK_SKEW_MS) {
      removed.push(spec.kid);
      continue;
    }
    if (spec.kid === signer.kid) {
      // Its public half only, from now on: the private key is gone from the file.
      const publicKey = await exportJWK(loadKey(spec).verifyKey);
      next.push({
        kid: spec.kid,
        alg: spec.alg,
        publicKey: { ...publicKey, kid: spec.kid, alg: spec.alg, use: 'sig' },
        retireAt,
        retiredAt,
      });
      retiring.push({ kid: spec.kid, retireAt });
      continue;
    }
    next.push(spec);
  }
  const { configEntry } = await generateKey(alg, kid);
  next.push(configEntry);

  const text = await readFile(file, 'utf8');
  const format = { formattingOptions: { insertSpaces: true, tabSize: 2 } };
  let edited = applyEdits(text, modify(text, ['jwt', 'keys'], next, format));
  edited = applyEdits(edited, modify(edited, ['jwt', 'signingKeyId'], kid, format));
  // Checked before it is written: the new file loads and its keys sign and verify.
  const tokens = new TokenService({ ...config.jwt, keys: next, signingKeyId: kid });
  // A rotation cut off before its rename left its temp file: the new private key of a rotation that
  // never happened. Only dead rotations' files: a live one's rename needs its own.
  await removeLeftoverTempFiles(file, { deadWritersOnly: true });
  try {
    await writeFileAtomically(file, edited, mode & 0o777, { unchangedSince: { ino, mtimeMs, size } });
  } catch (error) {
    if (!(error instanceof FileChangedError)) throw error;
    throw new CliError(
      `${options.configFile} changed while the rotation ran (an edit, or another rotation): nothing was written; run it again`,
      EXIT_FAILURE,
    );
  }
  return { file, kid, alg, retiring, removed, jwks: await tokens.jwks(options.now) };
}
