import { isServed } from './context.js';

/**
 * What json-server refused at start in a db.json, restauth refuses too, so
 * that no data sits there unreachable: a top-level key holding a `/` (it
 * cannot be a route: `/a/b` is the record `b` of `a`; a rewrite rule is the
 * way to such a path), and a top-level value that is neither an array nor an
 * object (a number or a string is no resource). `$schema` is left alone, as
 * json-server left it. The error names the file and the keys, as one line
 * (its E-code tells the CLI to print no stack).
 */
export function assertServableDocument(data: object, source: string): void {
  const problems: string[] = [];
  const slashed = Object.keys(data).filter((key) => key.includes('/'));
  if (slashed.length > 0) {
    problems.push(
      `${slashed.map((key) => JSON.stringify(key)).join(', ')} cannot be served: a top-level key ` +
        `may not contain "/" (rename it; to serve another path, add a rewrite in routes.json, ` +
        `e.g. {"/a/b": "/a_b"})`,
    );
  }
  for (const [key, value] of Object.entries(data)) {
    if (key === '$schema' || !isServed(key) || (typeof value === 'object' && value !== null)) continue;
    problems.push(
      `${JSON.stringify(key)} is ${value === null ? 'null' : `a ${typeof value}`}: a top-level value ` +
        `must be an array (a collection) or an object (a singular resource)`,
    );
  }
  if (problems.length === 0) return;
  const error = new Error(`${source}: ${problems.join('; ')}`) as NodeJS.ErrnoException;
  error.code = 'EDATAKEY';
  throw error;
}
