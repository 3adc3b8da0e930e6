import sonicBoom from 'sonic-boom';
import { hasReader, isReaderGone, outputClosed } from '../lib/closed-outputs.js';

// A CommonJS module: its class is a property of what it exports (and that itself, which its types do not say).
const { SonicBoom } = sonicBoom;

/** sonic-boom writing to standard output (pino's DestinationStream, pino-pretty's destination). */
export type StandardOutputStream = InstanceType<typeof SonicBoom>;

export interface StandardOutputOptions {
  /** Bytes gathered before a write (0: each line at once). */
  minLength?: number;
  /** Milliseconds after which gathered lines are written however few. */
  periodicFlush?: number;
}

/**
 * Standard output as the destination of log lines: sonic-boom writing synchronously to descriptor 1, so a
 * line is out before the process may exit. Its reader gone (EPIPE: `restauth | head -1`, a log collector
 * that died; EIO: a closed terminal), its lines are dropped, the loss said once on standard error
 * (closed-outputs.ts), and the server serves on. Built here rather than with pino.destination: pino's
 * sonic-boom 4 drops lines only on EPIPE, and its flushSync retries any other failed write every 100 ms
 * forever, so a process whose standard output had no reader hung in the exit flush of the lines it still
 * held; sonic-boom 5's flushSync throws instead.
 */
export function standardOutput(options: StandardOutputOptions = {}): StandardOutputStream {
  const stream = new SonicBoom({ fd: 1, sync: true, ...options });
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // What pino's own destination does with any other error: it ends the process.
    if (!isReaderGone(error)) throw error;
    outputClosed(1, error);
    dropLines(stream);
  });
  return stream;
}

/** Writes out what `stream` still gathers; at exit, for the lines before a stop or a crash. */
export function flushAtExit(stream: StandardOutputStream): void {
  if (!hasReader(1)) return;
  try {
    stream.flushSync();
  } catch (error) {
    // Nothing is left to do with the lines at exit; a reader gone is still recorded.
    if (isReaderGone(error)) outputClosed(1, error as NodeJS.ErrnoException);
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
