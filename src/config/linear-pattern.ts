import { compileLinear } from '../lib/re2.js';
import { ConfigError } from './errors.js';

/**
 * A configured user-name or password format runs on RE2 (compileLinear): one it cannot run (a
 * back-reference, a look-around, JavaScript-only syntax such as `\u{…}`) is a start-up error naming
 * the key, not a server that refuses every sign-up or crashes composing itself.
 */
export function checkLinearPattern(pattern: string, key: string, where: string): void {
  try {
    compileLinear(pattern);
  } catch (error) {
    throw new ConfigError(
      `${where}: ${key} is not a regular expression RE2 can run (linear time; no back-references or look-around): ${(error as Error).message}`,
    );
  }
}
