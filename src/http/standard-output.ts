import { constants, fstatSync, openSync } from 'node:fs';
import sonicBoom from 'sonic-boom';
import {
  hasReader,
  isReaderGone,
  outputClosed,
  sayOn,
  writeNoticesThrough,
  type StandardOutputFd,
} from '../lib/closed-outputs.js';

// A CommonJS module: its class is a property of what it exports (and that itself, which its types do not say).
const { SonicBoom } = sonicBoom;

/** sonic-boom writing to standard output (pino's DestinationStream, pino-pretty's destination). */
export type StandardOutputStream = InstanceType<typeof SonicBoom>;

export interface StandardOutputOptions {
  /** Milliseconds after which held lines (a full pipe's) are tried again without waiting for the next line. */
  periodicFlush?: number;
}

/** Bytes of lines held for a reader that stopped reading (its pipe full) before later lines are dropped. */
export const HELD_BYTES_BOUND = 4 * 1024 * 1024;

const FULL_NOTICE =
  'restauth: standard output is full (its reader is not reading): its lines are held, and beyond 4 MB dropped, until it reads\n';

let saidFull = false;
const droppedLines = new Map<StandardOutputFd, number>([
  [1, 0],
  [2, 0],
]);

/** Standard output's one writer, once made. */
let standardOutputWriter: StandardOutputStream | undefined;

/** Log lines dropped since the start because standard output's reader stopped reading. */
export function droppedStandardOutputLines(): number {
  return droppedLines.get(1)!;
}

/** Lines to standard error dropped since the start because its reader stopped reading. */
export function droppedStandardErrorLines(): number {
  return droppedLines.get(2)!;
}

/**
 * Standard output as the destination of log lines: sonic-boom writing synchronously to descriptor 1, so a
 * line is out before the process may exit. Its reader gone (EPIPE: `restauth | head -1`, a log collector
 * that died; EIO: a closed terminal), its lines are dropped, the loss said once on standard error
 * (closed-outputs.ts), and the server serves on. Built here rather than with pino.destination: pino's
 * sonic-boom 4 drops lines only on EPIPE, and its flushSync retries any other failed write every 100 ms
 * forever, so a process whose standard output had no reader hung in the exit flush of the lines it still
 * held; sonic-boom 5's flushSync throws instead.
 *
 * One writer for the whole process, made at the first call (`options` are that call's; tests) and
 * returned by every later one: a writer holds a line part-written while the pipe is full and finishes it
 * first, so a second writer on descriptor 1 (as the request lines' batches had) wrote its lines inside
 * that one, a torn line in the log collector. Whatever writes to standard output goes through it: the
 * log lines (JSON or pino-pretty's), the request lines' batches, the notices and console.log.
 */
export function standardOutput(options: StandardOutputOptions = {}): StandardOutputStream {
  if (standardOutputWriter) return standardOutputWriter;
  const stream = boundedOutput(1, options, () => {
    if (!saidFull) sayOn(2, FULL_NOTICE);
    saidFull = true;
  });
  writeNoticesThrough(1, (notice) => stream.write(notice));
  return (standardOutputWriter = stream);
}

/**
 * Standard error as standardOutput is standard output: written at once, held up to the same bound while
 * its reader does not read, later lines dropped and counted. Its being full is said nowhere but in the
 * count: standard output carries the log lines, and a notice there could cut a line part-written.
 */
export function standardError(options: StandardOutputOptions = {}): StandardOutputStream {
  const stream = boundedOutput(2, options, () => {});
  writeNoticesThrough(2, (notice) => stream.write(notice));
  return stream;
}

function boundedOutput(
  fd: StandardOutputFd,
  options: StandardOutputOptions,
  onFull: () => void,
): StandardOutputStream {
  const stream = new SonicBoom({
    fd: ownDescriptionOf(fd),
    sync: true,
    ...options,
    // A reader alive but not reading (a stalled log collector, `restauth | less` paused) fills the pipe:
    // a write then fails with EAGAIN, which sonic-boom by default retried in a sleeping loop, blocking
    // the event loop (no request answered, no SIGTERM handled) for as long as the reader stalled. Not
    // retried, the write's lines stay held (a part-written line is finished first, so no line is ever
    // cut by another) and are tried again with the next line or flush, once the reader drains.
    retryEAGAIN: () => false,
    // What a full pipe may hold in memory: later lines are dropped (and counted) until it drains.
    maxLength: HELD_BYTES_BOUND,
  });
  // Counted in lines: a batch of request lines is one write.
  stream.on('drop', (text: string) => droppedLines.set(fd, droppedLines.get(fd)! + linesIn(text)));
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // A full pipe: the lines stay held (see retryEAGAIN above).
    if (error.code === 'EAGAIN') return onFull();
    // What pino's own destination does with any other error: it ends the process.
    if (!isReaderGone(error)) throw error;
    outputClosed(fd, error);
    dropLines(stream);
  });
  return stream;
}

/** The lines in `text`: its newlines, or 1 for a line without one. */
function linesIn(text: string): number {
  let lines = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines += 1;
  return Math.max(lines, 1);
}

/**
 * The pipe of `fd` opened anew, non-blocking: a description of the process's own, where `fd`'s is shared
 * with whoever else holds the pipe. A child process given the output (stdio 'inherit': tsx's esbuild, a
 * library's helper) set that shared one back to blocking as it started (libuv does for a child's 0-2),
 * and a write to a full pipe then waited for the reader for ever: the event loop stopped, a failed start
 * never exited. Only a pipe (a shell's `|`, a named pipe) is reopened; a file keeps its offset and a
 * socket cannot be reopened, so those, or a failed reopening, write through `fd` as before.
 */
function ownDescriptionOf(fd: StandardOutputFd): number {
  try {
    if (!fstatSync(fd).isFIFO()) return fd;
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return fd;
  }
}

/** Writes out what `stream` still gathers; at exit, for the lines before a stop or a crash. */
export function flushAtExit(stream: StandardOutputStream, fd: StandardOutputFd = 1): void {
  if (!hasReader(fd)) return;
  try {
    stream.flushSync();
  } catch (error) {
    // Nothing is left to do with the lines at exit (a full pipe's EAGAIN is not waited for, so the exit
    // flush is bounded); a reader gone is still recorded.
    if (isReaderGone(error)) outputClosed(fd, error as NodeJS.ErrnoException);
  }
}

/**
 * Turns `stream` into a sink, as pino's own destination does on EPIPE: sonic-boom keeps a failed write's
 * lines and tries them again with the next line or flush, so a dead output would hold every later line.
 */
function dropLines(stream: StandardOutputStream): void {
  const drop = () => true;
  Object.assign(stream, { write: drop, flush: drop, flushSync: drop, end: drop, destroy: drop });
}
