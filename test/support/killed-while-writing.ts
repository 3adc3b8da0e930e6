import type { ChildProcess } from 'node:child_process';
import { spawnTsScript } from './process.js';

/** Where the child is killed: between two pieces of the new file, or once it is renamed into place. */
export type KillMoment = 'while writing' | 'after the rename';

/**
 * A child that opens the file store on the folder `dir` and SIGKILLs itself while it writes `file`.
 * 'while writing': at the first piece it writes (a compaction's, a whole-document commit's) once the
 * new file (writeFileAtomically's temp file, named by its pid) has content: the kill falls between two
 * pieces of that file, before its rename. 'after the rename': once the new file is in place, before
 * its journal is emptied (FileDatabase's onFileWritten). `body` runs first, with `db` (the
 * FileDatabase), `FileStore` and `newSession` in scope, and says on stderr if it ended before the kill.
 * No compaction on the timer (200 ms after a write): on a busy machine it fell amid the body's writes,
 * and the kill with it, before the compaction the body means (at close, or its transaction).
 */
export function killedWhileWriting(
  dir: string,
  file: 'db.json' | 'credentials.json',
  body: string,
  moment: KillMoment = 'while writing',
): ChildProcess {
  const hook =
    moment === 'while writing'
      ? `onCompactionPiece: () => {
          if ((statSync(temp, { throwIfNoEntry: false })?.size ?? 0) > 0) process.kill(process.pid, 'SIGKILL');
        },`
      : `onFileWritten: (written) => {
          if (written === ${JSON.stringify(file === 'db.json' ? 'data' : 'credentials')}) process.kill(process.pid, 'SIGKILL');
        },`;
  const script = `
    import { statSync } from 'node:fs';
    import { join } from 'node:path';
    import { FileDatabase, FileStore } from ${JSON.stringify(new URL('../../src/stores/file/index.ts', import.meta.url).href)};
    import { newSession } from ${JSON.stringify(new URL('./credentials-seed.ts', import.meta.url).href)};
    const [dir] = process.argv.slice(1);
    const temp = join(dir, '.${file}.' + process.pid + '.tmp');
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      compactAfterMs: 3_600_000,
      ${hook}
    });
    ${body}
  `;
  return spawnTsScript(script, [dir], 'inherit');
}
