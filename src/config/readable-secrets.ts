import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeConfig, REDACTED } from './describe.js';
import type { Config } from './schema.js';
import type { ValueSources } from './sources.js';

/**
 * Whether a file others on this host may read (group or world bits): on a shared machine, a CI
 * runner or beside a web server's user, any local account reads what the umask left open, and
 * a jwt secret read there forges every user's token.
 */
export async function readableByOthers(path: string): Promise<boolean> {
  if (process.platform === 'win32') return false;
  const info = await stat(path).catch(() => null);
  return info !== null && (info.mode & 0o077) !== 0;
}

/**
 * Warns for each file the configuration read a secret from (the config file, the working
 * directory's .env) that other users may read, naming the keys. A warning and not a refusal:
 * json-data-server and json-server installs keep a 0644 config.json, and the start must not
 * break for them; the generated secret file is checked alike where it is read (secret.ts).
 */
export async function warnOfReadableSecrets(
  config: Config,
  sources: ValueSources,
  cwd: string,
  warn: (message: string) => void,
): Promise<void> {
  const keysByFile = new Map<string, string[]>();
  for (const { key, value, source } of describeConfig(config, sources)) {
    const secret = value === REDACTED || (typeof value === 'string' && value.includes(REDACTED));
    if (!secret) continue;
    const file = source.startsWith('file ')
      ? source.slice('file '.length)
      : source.startsWith('.env ')
        ? join(cwd, '.env')
        : null;
    if (file !== null) keysByFile.set(file, [...(keysByFile.get(file) ?? []), key]);
  }
  for (const [file, keys] of keysByFile) {
    if (await readableByOthers(file)) {
      warn(`${file} holds ${keys.join(', ')} and is readable by other users: chmod 600 it`);
    }
  }
}
