import { compileFormatPattern } from '../lib/re2.js';
import { ConfigError } from './errors.js';

/**
 * A configured user-name or password format runs on RE2, or on the native engine when it needs a
 * look-around or back-reference and cannot backtrack exponentially (compileFormatPattern): one neither
 * can run is a start-up error naming the key, not a server that refuses every sign-up, hangs on one,
 * or crashes composing itself.
 */
export function checkFormatPattern(pattern: string, key: string, where: string): void {
  try {
    compileFormatPattern(pattern);
  } catch (error) {
    throw new ConfigError(
      `${where}: ${key} is not a regular expression restauth can run in bounded time: ${(error as Error).message}`,
    );
  }
}
