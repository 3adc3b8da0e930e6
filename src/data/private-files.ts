import { realpath } from 'node:fs/promises';
import { basename, dirname, sep } from 'node:path';

/** Files of restauth's that a folder holds among others: those whose names `named` says are. */
export interface PrivateNames {
  folder: string;
  named(name: string): boolean;
}

/** json-server's snapshots (`s` + Enter: cli/snapshots.ts) in their folder: whole copies of db.json. */
export function snapshotFiles(folder: string): PrivateNames {
  return { folder, named: (name) => /^db-\d+\.json$/u.test(name) };
}

/**
 * Tells whether a path in the static folder leads to one of restauth's own
 * files or folders (`paths`: db.json, credentials.json, their journals, the
 * audit log, the config file, the state folder; `names`: the snapshots in
 * their folder, the copies a hand edit left), and any dotfile. Both sides are compared as real paths, so `..`,
 * percent-encoding and symbolic links inside the folder lead nowhere else.
 * Resolved at each request: the audit log, a journal or a snapshot may be
 * created after the start, and a static file is no hot path.
 */
export function privateFiles(
  paths: readonly string[],
  names: readonly PrivateNames[] = [],
): (target: string) => Promise<boolean> {
  return async (target) => {
    // Nothing there: the static answer is a 404 anyway.
    const real = await realpath(target).catch(() => null);
    if (real === null) return false;
    // A dotfile (the .env, a journal, the lock) by a link whose own name has no dot: the static plugin
    // refuses dotfiles by the path asked for only.
    if (basename(real).startsWith('.')) return true;
    for (const path of paths) {
      const own = await realpath(path).catch(() => path);
      if (real === own || real.startsWith(own + sep)) return true;
    }
    for (const { folder, named } of names) {
      if (!named(basename(real))) continue;
      if (dirname(real) === (await realpath(folder).catch(() => folder))) return true;
    }
    return false;
  };
}
