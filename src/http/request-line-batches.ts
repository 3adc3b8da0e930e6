import type { DestinationStream } from 'pino';
import { flushAtExit, standardOutput } from './standard-output.js';

/** Characters of request lines gathered before they are handed on: about 25 lines. */
const BATCH_LENGTH = 4096;
/** Milliseconds after which gathered lines are handed on however few. */
const BATCH_MS = 1000;

/** Hands on what each batch gathers; called at exit. */
const handOns: (() => void)[] = [];

/**
 * Request lines for standard output, gathered in memory and handed to its one writer (standardOutput) in
 * batches of whole lines: when 4 KB have gathered or a second has passed. A busy server makes one write
 * call per batch instead of one per request (one per request cost throughput). Not a writer of its own:
 * a second writer on descriptor 1 wrote its lines inside a line the other held part-written while the
 * pipe was full; handed to the one writer, a batch is written after what it holds. Handed on and written
 * out at exit, however the process ends but SIGKILL: a normal stop, process.exit, an uncaught exception
 * or an unhandled rejection (Node emits 'exit' for each), so the last lines before a stop or a crash are
 * kept; with no reader left they are let go, and a full pipe is not waited for.
 */
export function requestLineBatches(): DestinationStream {
  const writer = standardOutput();
  let batch = '';
  const handOn = () => {
    if (batch === '') return;
    const lines = batch;
    batch = '';
    writer.write(lines);
  };
  if (handOns.length === 0) {
    process.on('exit', () => {
      for (const batchHandOn of handOns) batchHandOn();
      flushAtExit(writer);
    });
  }
  handOns.push(handOn);
  // Unreferenced: an idle batch keeps no process alive (the exit hands it on).
  setInterval(handOn, BATCH_MS).unref();
  return {
    write(line: string) {
      batch += line;
      if (batch.length >= BATCH_LENGTH) handOn();
    },
    // logger.flush(): the gathered lines handed on now (the writer writes them, or holds them while the
    // pipe is full).
    flush(done?: (error?: Error) => void) {
      handOn();
      done?.();
    },
  } as DestinationStream;
}
