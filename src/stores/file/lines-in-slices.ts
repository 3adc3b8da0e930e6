import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { ifMissing } from '../../lib/if-missing.js';

/**
 * How much of a file one slice holds: a caller parses a slice's lines between two reads, so this
 * bounds how long it holds the event loop (256 KiB of audit log is about 1,000 events, a few ms).
 */
export const SLICE_BYTES = 256 * 1024;

/**
 * The lines of the file at `path` (without their "\n"), one slice at a time: each slice is what one
 * read of at most `sliceBytes` completed (and a line it cut, carried to the next), and each read is
 * awaited, so requests are answered between two slices. A last line without its "\n" comes last.
 * A missing file has no lines.
 */
export async function* linesInSlices(path: string, sliceBytes = SLICE_BYTES): AsyncGenerator<string[]> {
  const handle = await open(path, 'r').catch(ifMissing(null));
  if (handle === null) return;
  try {
    const buffer = Buffer.alloc(sliceBytes);
    // A read may end inside a character: the decoder keeps its first bytes for the next.
    const decoder = new StringDecoder('utf8');
    let carried = '';
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, sliceBytes, null);
      if (bytesRead === 0) break;
      const lines = (carried + decoder.write(buffer.subarray(0, bytesRead))).split('\n');
      carried = lines.pop()!;
      yield lines;
    }
    const last = carried + decoder.end();
    if (last !== '') yield [last];
  } finally {
    await handle.close();
  }
}
