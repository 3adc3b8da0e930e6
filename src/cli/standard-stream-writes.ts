import { boundedWriterOf } from '../lib/closed-outputs.js';

type WriteCallback = (error?: Error | null) => void;

/**
 * Replaces `stream.write` (process.stdout's or process.stderr's) with `write(text)`, for everything that
 * writes there: console.log and console.error, Node's own warnings, a library. Returns the write it
 * replaced. What `write` is given is written, held or dropped: nothing to wait for (a caller waiting for
 * 'drain' would wait on a bounded writer's bound), so a callback is called at once.
 */
export function replaceWrite(
  stream: NodeJS.WriteStream,
  write: (text: string) => void,
): NodeJS.WriteStream['write'] {
  const replaced = stream.write.bind(stream);
  const replacement = (
    chunk: string | Uint8Array,
    encoding?: BufferEncoding | WriteCallback,
    callback?: WriteCallback,
  ): boolean => {
    const done = typeof encoding === 'function' ? encoding : callback;
    write(
      typeof chunk === 'string'
        ? typeof encoding === 'string'
          ? Buffer.from(chunk, encoding).toString()
          : chunk
        : Buffer.from(chunk).toString(),
    );
    if (done) process.nextTick(done, null);
    return true;
  };
  stream.write = replacement as NodeJS.WriteStream['write'];
  return replaced;
}

/**
 * Routes console.log (the CLI's own lines on standard output: "listening on", a snapshot's) through the
 * log lines' writer once the server has made one (standard-output.ts): written beside it by Node's own
 * stream, such a line could land inside a log line that writer held part-written while the pipe was
 * full. Before (and in the CLI's other commands, which log nothing) Node's stream writes them as before.
 */
export function standardOutputThroughLogWriter(): void {
  const nodeWrite = replaceWrite(process.stdout, (text) => {
    const write = boundedWriterOf(1);
    if (write) write(text);
    else nodeWrite(text);
  });
}
