import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ifMissing } from '../lib/if-missing.js';

/**
 * The `.env` file of the working directory, as GoTrue reads its own (godotenv): its variables fill in
 * what the process environment does not set, never override it. Parsed by Node's own parser
 * (util.parseEnv: `NAME=value`, quotes, `#` comments, `export` prefixes).
 */
export async function withDotenv(
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ env: NodeJS.ProcessEnv; fromDotenv: ReadonlySet<string> }> {
  const content = await readFile(join(cwd, '.env'), 'utf8').catch(ifMissing(null));
  if (content === null) return { env, fromDotenv: new Set() };
  const parsed = parseEnv(content);
  const fromDotenv = new Set(Object.keys(parsed).filter((name) => env[name] === undefined));
  return { env: { ...parsed, ...env }, fromDotenv };
}
