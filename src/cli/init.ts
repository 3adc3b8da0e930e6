import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { Command } from 'commander';
import { JsonDataServerAuthSchema } from '../config/formats/json-data-server.js';
import { CliError, EXIT_FAILURE } from './errors.js';

/**
 * The files json-data-server's `npm run initdata` made, in its format, so the
 * result also documents every setting: config.json with every auth key at its
 * default (except a strong random secret), an empty db.json and credentials.json.
 */
export function initFiles(): Array<{ name: string; content: unknown; mode: number }> {
  const auth = Value.Default(JsonDataServerAuthSchema, {}) as Record<string, unknown>;
  auth['jwtSecret'] = randomBytes(48).toString('base64url');
  return [
    // Hold the secret, the users' records and their hashes: owner-only.
    { name: 'config.json', content: { port: 3000, auth }, mode: 0o600 },
    { name: 'db.json', content: { users: [] }, mode: 0o600 },
    { name: 'credentials.json', content: { passwords: [] }, mode: 0o600 },
  ];
}

export async function init(dir: string, force: boolean): Promise<string[]> {
  const files = initFiles();
  const existing = files.map(({ name }) => name).filter((name) => existsSync(join(dir, name)));
  if (existing.length > 0 && !force) {
    const list = existing.join(', ');
    const verb = existing.length === 1 ? 'exists' : 'exist';
    throw new CliError(
      `${list} already ${verb} in ${dir}: nothing written (use --force to overwrite)`,
      EXIT_FAILURE,
    );
  }
  for (const { name, content, mode } of files) {
    // 'wx' without --force: a file appearing since the check above is still never overwritten.
    const handle = await open(join(dir, name), force ? 'w' : 'wx', mode);
    try {
      // An open's mode is only a new file's: --force over a config.json left readable by others
      // (json-data-server's own, an editor's 0644) would put the new secret in it. The file is
      // made no more open than a fresh one (never widened) before the secret is written.
      const bits = (await handle.stat()).mode & 0o777;
      if ((bits & ~mode) !== 0) await handle.chmod(bits & mode);
      await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`);
    } finally {
      await handle.close();
    }
  }
  return files.map(({ name }) => name);
}

export function initCommand(): Command {
  return new Command('init')
    .description(
      'create config.json (json-data-server format, random jwtSecret), db.json and credentials.json here',
    )
    .option('-f, --force', 'overwrite the files if they exist')
    .action(async (options: { force?: boolean }) => {
      const dir = process.cwd();
      const created = await init(dir, options.force === true);
      console.log(`created ${created.join(', ')} in ${dir}`);
      console.log('start the server with: restauth');
    });
}
