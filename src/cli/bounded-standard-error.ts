import { flushAtExit, standardError, type StandardOutputStream } from '../http/standard-output.js';
import { replaceWrite } from './standard-stream-writes.js';

/**
 * Routes every write to process.stderr (console.error and console.warn, Node's own warnings, the stop's
 * and a failed start's lines) through standardError: held up to 4 MB while its reader does not read, later
 * lines dropped and counted (restauth_stderr_lines_dropped_total). Node's stderr, a non-blocking pipe once
 * opened, queued each write in memory without bound for a reader that had stopped reading. Replaced at
 * process.stderr itself, so that what writes there without asking restauth (Node, a library) is bounded
 * too. Call it after keepRunningWhenOutputsClose, which opens process.stderr. `periodicFlushMs`: how often
 * held lines are tried again (tests: often, so that a reader gets them without waiting; 0, only with the
 * next line). Returns the bounded writer (tests: to see what the pipe took).
 */
export function boundStandardError(periodicFlushMs = 1000): StandardOutputStream {
  // Held lines are otherwise tried again only with the next line, which may come much later.
  const stream = standardError({ periodicFlush: periodicFlushMs });
  replaceWrite(process.stderr, (text) => stream.write(text));
  // Once, at the end, for what a full pipe holds: not waited for (see flushAtExit).
  process.on('exit', () => flushAtExit(stream, 2));
  return stream;
}
