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

/** How a notice reaches each output whose lines a bounded writer writes (standard-output.ts). */
const noticeWriters = new Map<StandardOutputFd, (notice: string) => void>();

/**
 * Makes `write` (the bounded writer of `fd`'s lines) the way notices reach `fd`. Written beside that
 * writer, a notice cut into a line it held part-written while the pipe was full (a torn line in a log
 * collector); through it, the line is finished first. It writes at once while the pipe takes it.
 */
export function writeNoticesThrough(fd: StandardOutputFd, write: (notice: string) => void): void {
  noticeWriters.set(fd, write);
}

/** The bounded writer of `fd`'s lines, once standard-output.ts has made one. */
export function boundedWriterOf(fd: StandardOutputFd): ((text: string) => void) | undefined {
  return noticeWriters.get(fd);
}

/**
 * Says `notice` on `fd` while it has a reader: through its bounded writer, or with writeSync where it has
 * none, so that it neither waits (the process may be exiting) nor raises an 'error' event of its own.
 */
export function sayOn(fd: StandardOutputFd, notice: string): void {
  if (closed.has(fd)) return;
  const write = noticeWriters.get(fd);
  if (write) return write(notice);
  try {
    writeSync(fd, notice);
  } catch (failure) {
    // Gone too (or full: the notice is let go rather than waited for).
    if (isReaderGone(failure)) closed.add(fd);
  }
}

/**
 * Records that `fd` lost its reader, and says so once on the other output while that one has a reader:
 * whoever reads the logs learns why lines stopped coming, where they would otherwise stop silently.
 */
export function outputClosed(fd: StandardOutputFd, error: NodeJS.ErrnoException): void {
  if (closed.has(fd)) return;
  closed.add(fd);
  sayOn(
    fd === 1 ? 2 : 1,
    `restauth: ${NAMES[fd]} lost its reader (${error.code}): its lines are dropped from now on\n`,
  );
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
