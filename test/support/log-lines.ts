import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/**
 * A log destination handing each line written to it to `onLine`, without its newline, empty lines left
 * out. A line cut across two writes is handed over whole, once its end is written.
 */
export function lineSink(onLine: (line: string) => void): Writable {
  let rest = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) if (line !== '') onLine(line);
      done();
    },
  });
}

/** A pino logger at `level` (pino's JSON lines, its default fields) keeping each line, as text, in `lines`. */
export function linesLogger(level: pino.LevelWithSilent, lines: string[]): Logger {
  return pino(
    { level },
    lineSink((line) => lines.push(line)),
  );
}
