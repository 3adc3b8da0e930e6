import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';

/**
 * Tells whether a path in the static folder leads to one of restauth's own
 * files or folders (`paths`: db.json, credentials.json, the audit log, the
 * config file, the state folder). Both sides are compared as real paths, so
 * `..`, percent-encoding and symbolic links inside the folder lead nowhere
 * else. Resolved at each request: the audit log or the state folder may be
 * created after the start, and a static file is no hot path.
 */
export function privateFiles(paths: readonly string[]): (target: string) => Promise<boolean> {
  return async (target) => {
    // Nothing there: the static answer is a 404 anyway.
    const real = await realpath(target).catch(() => null);
    if (real === null) return false;
    for (const path of paths) {
      const own = await realpath(path).catch(() => path);
      if (real === own || real.startsWith(own + sep)) return true;
    }
    return false;
  };
}
