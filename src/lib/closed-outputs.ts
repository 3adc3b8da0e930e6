import { writeSync } from 'node:fs';

/** Standard output's and standard error's file descriptors. */
export type StandardOutputFd = 1 | 2;

const NAMES: Record<StandardOutputFd, string> = { 1: 'standard output', 2: 'standard error' };

/**
 * The errors of a write to an output whose reader is gone: a pipe's or a socket's (EPIPE, ECONNRESET;
 * `restauth | head -1`, a log collector that died), a closed terminal's (EIO), and Node's for a write
 * to process.stdout after such an error destroyed it.
 */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET', 'EIO', 'ERR_STREAM_DESTROYED']);

export function isReaderGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && READER_GONE.has(code);
}

const closed = new Set<StandardOutputFd>();

/** False once a write to `fd` found its reader gone: its lines are dropped since. */
export function hasReader(fd: StandardOutputFd): boolean {
  return !closed.has(fd);
}

/**
 * Records that `fd` lost its reader, and says so once on the other output while that one has a reader:
 * whoever reads the logs learns why lines stopped coming, where they would otherwise stop silently.
 * Written with writeSync: a line to the other output must neither wait (the process may be exiting) nor
 * raise an 'error' event of its own.
 */
export function outputClosed(fd: StandardOutputFd, error: NodeJS.ErrnoException): void {
  if (closed.has(fd)) return;
  closed.add(fd);
  const other: StandardOutputFd = fd === 1 ? 2 : 1;
  if (closed.has(other)) return;
  try {
    writeSync(
      other,
      `restauth: ${NAMES[fd]} lost its reader (${error.code}): its lines are dropped from now on\n`,
    );
  } catch (failure) {
    // The other output is gone too (or full: the notice is let go rather than waited for).
    if (isReaderGone(failure)) closed.add(other);
  }
}

/**
 * Keeps the process running when its standard output or error loses its reader. Node emits a failed
 * write to process.stdout or process.stderr (console.log, console.error) as an 'error' event, which
 * with no listener ended the process: a server piped to `head -1` died at its next line, and one whose
 * stderr was gone died at its "SIGTERM received" line instead of stopping gracefully. What was written
 * is for a reader that no longer exists: it is let go. Any other error still ends the process, as before.
 * The log lines' own writer (standard-output.ts) reports to the same record.
 */
export function keepRunningWhenOutputsClose(): void {
  const watch = (stream: NodeJS.WriteStream, fd: StandardOutputFd) =>
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (!isReaderGone(error)) throw error;
      outputClosed(fd, error);
    });
  watch(process.stdout, 1);
  watch(process.stderr, 2);
}
