/**
 * A rejection handler for file system calls where absence is an answer, not
 * a failure: `fallback` when the file or folder does not exist (ENOENT), any
 * other error thrown again. `await readFile(path, 'utf8').catch(ifMissing(null))`
 */
export function ifMissing<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw error;
  };
}
