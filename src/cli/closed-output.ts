/** The errors of a write to an output whose reader is gone: a pipe's (EPIPE), a closed terminal's (EIO). */
const READER_GONE = new Set(['EPIPE', 'EIO', 'ERR_STREAM_DESTROYED']);

/**
 * Keeps the process running when its standard output or error loses its
 * reader: `restauth | head -1`, a log collector that died, the terminal or
 * ssh session it was started from closed. Node emits such a write's failure
 * as an 'error' event on process.stdout or process.stderr, and with no
 * listener that event ends the process at once: a server piped to `head -1`
 * died at its "listening" line, and one whose stderr was gone died at the
 * "SIGTERM received" line instead of closing gracefully. What is written
 * there is for a reader that no longer exists, so it is let go; the logger's
 * own writer (pino's SonicBoom) already stops writing on EPIPE. Any other
 * error still ends the process, as before.
 */
export function keepRunningWhenOutputCloses(): void {
  for (const output of [process.stdout, process.stderr]) {
    output.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== undefined && READER_GONE.has(error.code)) return;
      throw error;
    });
  }
}
