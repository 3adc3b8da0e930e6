/**
 * What json-server refused at start in a db.json: a top-level key holding a
 * `/` cannot be a route (`/a/b` is the record `b` of `a`), so the data would
 * be unreachable and a rewrite rule is the way to such a path. restauth
 * stops the start the same way, naming the file and the key, as one line
 * (the error's E-code tells the CLI to print no stack).
 */
export function assertRoutableKeys(data: object, source: string): void {
  const bad = Object.keys(data).filter((key) => key.includes('/'));
  if (bad.length === 0) return;
  const error = new Error(
    `${source}: ${bad.map((key) => JSON.stringify(key)).join(', ')} cannot be served: a top-level key ` +
      `may not contain "/" (rename it; to serve another path, add a rewrite in routes.json, ` +
      `e.g. {"/a/b": "/a_b"})`,
  ) as NodeJS.ErrnoException;
  error.code = 'EDATAKEY';
  throw error;
}
