import { readFileSync } from 'node:fs';

/**
 * A small file the system describes itself in (/proc, /sys), or null where it cannot be read: not
 * Linux, an older kernel, a container that hides it. Read synchronously: such files live in memory.
 */
export function readSystemFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
