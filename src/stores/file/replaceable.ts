import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { unescapeMountField } from '../../lib/mountinfo.js';

/**
 * Whether restauth can put a new version of `file` in place: every rewrite renames a new file over
 * it, which a rename refuses when the file is a mount point of its own (Docker's
 * `-v ./db.json:/data/db.json`, a Kubernetes subPath: EBUSY, root too) and when it is immutable or on
 * a read-only mount (EPERM, EROFS). A file only its mode makes read-only (chmod 444) is replaced all
 * the same: the rename needs the folder alone. A file not there yet is made in the folder, which
 * readiness checks on its own. `mounts`: mountPoints(). 'ok', or what is wrong, as a readiness check says it.
 */
export async function replaceability(file: string, mounts: ReadonlySet<string>): Promise<string> {
  if (mounts.has(file)) return 'mounted on its own, cannot be replaced';
  return access(file, constants.W_OK).then(
    () => 'ok',
    (error: NodeJS.ErrnoException) =>
      error.code === 'EPERM' || error.code === 'EROFS' ? 'not writable' : 'ok',
  );
}

/**
 * The mount points of this process's mount namespace (Linux's /proc/self/mountinfo, its fifth field,
 * spaces and such written as octal escapes); none where there is no such file.
 */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const point = line.split(' ')[4];
    if (point) points.add(unescapeMountField(point));
  }
  return points;
}
