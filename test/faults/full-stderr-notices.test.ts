import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { exitOf, killedAfterTests, untilOutput, within } from '../support/child-waits.js';
import { tsScriptArgs } from '../support/process.js';

/**
 * restauth's two notices about standard output (its reader gone; its reader not reading) are said on
 * standard error, whose lines a bounded writer writes (bounded-standard-error.ts). While standard error's
 * pipe was full, that writer held a line part-written, and a notice written beside it (writeSync on
 * descriptor 2) landed inside that line once the reader had read: a torn line in the log collector. Here
 * the pipe takes part of a line for real; the test reads all it took, and then the notice is caused.
 * Standard error is a named pipe, as a shell's `|` makes: it takes part of a write (a page at a time),
 * where Node's 'pipe' (a socket pair) took the writer's whole chunks of whole lines.
 */

/** Far above any start or exit on a loaded machine; only turns a hang into a clear failure. */
const BOUND_MS = 60_000;
/**
 * Numbered lines of ~6,000 bytes to standard error: 1.8 MB, more than a pipe takes (16 pages), less than
 * the bound. The writer writes them two to a write (its 16 KB at most: three pages), so that an emptied
 * pipe takes five writes whole and one page of the sixth: a line part-written.
 */
const LINES = 300;
/** Flushes of what is held, each into the pipe the test has emptied, until one leaves a line part-written. */
const ROUNDS = 5;

const modules = join(import.meta.dirname, '../../src');

/** How a case's child writes to the output under test, and what it writes beside its writer at 'go'. */
interface BesideCase {
  /** The output under test: a named pipe the test reads; the child reports on the other. */
  full: 'stdout' | 'stderr';
  /** Statements defining `held` (the output's bounded writer, without a periodic flush) and `write(text)`. */
  setUp: string;
  /** Statements run at 'go' that write to the output beside `held`. */
  beside: string;
  /** Run before 'go' (on the child's other output). */
  before?: (child: ChildProcess) => Promise<void>;
  /** The line `beside` writes. */
  line: string;
  /** What of a line `line` is (a pino line: its message); the line itself when not given. */
  said?: (text: string) => string;
}

/**
 * Fills the output under test (its writer without a periodic flush, so that a line part-written stays so)
 * and says on the other output how many bytes the pipe took: at start, and again at each 'flush'. At
 * 'go', runs `beside`, then writes one last line and flushes what is held until its input ends.
 */
const scriptOf = ({ full, setUp, beside }: BesideCase) => `import { createInterface } from 'node:readline';
  import { keepRunningWhenOutputsClose } from ${JSON.stringify(join(modules, 'lib/closed-outputs.ts'))};
  import { standardOutput } from ${JSON.stringify(join(modules, 'http/standard-output.ts'))};
  import { boundStandardError } from ${JSON.stringify(join(modules, 'cli/bounded-standard-error.ts'))};
  import { standardOutputThroughLogWriter } from ${JSON.stringify(join(modules, 'cli/standard-stream-writes.ts'))};
  keepRunningWhenOutputsClose();
  ${setUp}
  const report = (text) => process.${full === 'stdout' ? 'stderr' : 'stdout'}.write(text);
  let taken = 0;
  held.on('write', (bytes) => (taken += bytes));
  const line = (i) => JSON.stringify({ i, pad: 'x'.repeat(6_000) });
  for (let i = 0; i < ${LINES}; i += 1) write(line(i) + '\\n');
  report('taken ' + taken + '\\n');
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (command) => {
    if (command === 'flush') {
      held.flush(null);
      return report('taken ' + taken + '\\n');
    }
    ${beside}
    write(line(${LINES}) + '\\n');
    setInterval(() => held.flush(null), 10);
  });
  commands.on('close', () => process.exit(0));`;

/** Log lines to standard output (its writer made at 'go'): with its reader gone or not reading, a notice. */
const LOG_LINES = `const out = standardOutput();
    for (let i = 0; i < 1_000; i += 1) out.write(line(i) + '\\n');`;

/** The bytes the pipe took, as the child said the `round`th time (0: at start). */
async function takenAt(child: ChildProcess, said: () => string, round: number) {
  const pattern = new RegExp(`(?:taken \\d+\\n){${round + 1}}`, 'u');
  await within(untilOutput(child, said, pattern), BOUND_MS, () => `taken, round ${round}:\n${said()}`);
  return Number([...said().matchAll(/taken (\d+)/gu)][round]![1]);
}

/** A named pipe in a folder removed after the tests. */
async function namedPipe(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-stderr-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'stderr');
  execFileSync('mkfifo', [path]);
  return path;
}

/** A child with `fd` as its `full` output (the test's end closed once it has it); killed after the tests. */
function spawnWith(args: string[], full: 'stdout' | 'stderr', fd: number): ChildProcess {
  const child = spawn(process.execPath, args, {
    stdio: full === 'stderr' ? ['pipe', 'pipe', fd] : ['pipe', fd, 'pipe'],
  });
  closeSync(fd);
  killedAfterTests(child);
  return child;
}

/** The next `bytes` bytes in the pipe `fd`, which holds them already. */
function readTo(fd: number, bytes: number): string {
  const buffer = Buffer.alloc(bytes);
  let read = 0;
  while (read < bytes) read += readSync(fd, buffer, read, bytes - read, null);
  return buffer.toString();
}

/** Resolves once `done()`, checked at each chunk `stream` gives. */
function until(stream: Socket, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!done()) return;
      stream.off('data', check);
      resolve();
    };
    stream.on('data', check);
    check();
  });
}

async function wholeBeside(test: BesideCase): Promise<void> {
  const path = await namedPipe();
  // The reader first: opening a named pipe to write waits for one.
  const readEnd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const child = spawnWith(tsScriptArgs(scriptOf(test), []), test.full, openSync(path, constants.O_WRONLY));
  const exited = exitOf(child);
  const other = test.full === 'stderr' ? child.stdout! : child.stderr!;
  let said = '';
  let written = '';
  other.on('data', (chunk: Buffer) => (said += chunk.toString()));

  // All the pipe took, to its last byte (ASCII: a character is a byte); the child writes no more to it
  // until told. A line part-written is held by the writer, the pipe empty: where a write beside the
  // writer cut in.
  for (let round = 0; round < ROUNDS && (round === 0 || written.endsWith('\n')); round += 1) {
    if (round > 0) child.stdin!.write('flush\n');
    const taken = await takenAt(child, () => said, round);
    // Read here, not by a stream, which would read on while the child writes.
    written += readTo(readEnd, taken - written.length);
  }
  assert.ok(!written.endsWith('\n'), `a line part-written:\n${written.slice(-300)}`);

  await test.before?.(child);
  child.stdin!.write('go\n');
  const full = new Socket({ fd: readEnd, writable: false });
  after(() => full.destroy());
  full.on('data', (chunk: Buffer) => (written += chunk.toString()));
  // The last line whole, to its newline: its start alone may be all the pipe took yet, and the child
  // exits (the rest of what it held let go) once told to.
  const lastLine = new RegExp(`"i":${LINES},[^\\n]*\\n`, 'u');
  await within(
    until(full, () => lastLine.test(written)),
    BOUND_MS,
    () => `the last line:\n${written.slice(-300)}`,
  );
  child.stdin!.end();
  other.resume();
  assert.deepEqual(await within(exited, BOUND_MS, () => 'exit'), { code: 0, signal: null });

  const lines = written.trimEnd().split('\n');
  const besideLines = lines.filter((text) => text.includes('restauth:'));
  assert.deepEqual(besideLines.map(test.said ?? ((text) => text)), [test.line]);
  const numbers = lines
    .filter((text) => !besideLines.includes(text))
    .map((text) => (JSON.parse(text) as { i: number }).i);
  assert.deepEqual(
    numbers,
    Array.from({ length: LINES + 1 }, (_, index) => index),
  );
}

/** A notice on a full standard error, caused by standard output's reader `stdout`. */
const noticeIsWhole = (stdout: 'gone' | 'full', line: string) =>
  wholeBeside({
    full: 'stderr',
    setUp: `const held = boundStandardError(0);
  const write = (text) => console.error(text.trimEnd());`,
    beside: LOG_LINES,
    before: async (child) => {
      if (stdout === 'full') return void child.stdout!.pause();
      child.stdout!.destroy();
      await once(child.stdout!, 'close');
    },
    line,
  });

describe('a notice on a full standard error (the CLI bounding it)', () => {
  it(
    'standard output gone: said as a whole line of its own, after the line held part-written',
    { timeout: 300_000 },
    () =>
      noticeIsWhole(
        'gone',
        'restauth: standard output lost its reader (EPIPE): its lines are dropped from now on',
      ),
  );

  it(
    'standard output full: said as a whole line of its own, after the line held part-written',
    { timeout: 300_000 },
    () =>
      noticeIsWhole(
        'full',
        'restauth: standard output is full (its reader is not reading): its lines are held, and beyond 4 MB dropped, until it reads',
      ),
  );
});

/**
 * The CLI's own lines on standard output ("listening on", a snapshot's: console.log) were written by
 * Node's stream beside the log lines' writer, and landed inside a log line it held part-written.
 */
describe("the CLI's own line on a full standard output (main.ts routing it)", () => {
  it('is a whole line of its own, after the log line held part-written', { timeout: 300_000 }, () =>
    wholeBeside({
      full: 'stdout',
      setUp: `standardOutputThroughLogWriter();
  const held = standardOutput();
  const write = (text) => held.write(text);`,
      beside: `console.log('restauth: a line of the CLI');`,
      line: 'restauth: a line of the CLI',
    }),
  );
});

/**
 * The request lines were written in batches by a writer of their own on descriptor 1, beside the log
 * lines' writer: each held a line part-written while the pipe was full, and a line the other wrote
 * meanwhile landed inside it. Here the request lines' is held part-written, and a log line comes.
 */
describe('a log line on a full standard output holding a request line (logging.ts)', () => {
  it('is a whole line of its own, after the request line held part-written', { timeout: 300_000 }, () =>
    wholeBeside({
      full: 'stdout',
      setUp: `import { pino } from 'pino';
  import { createLogger, requestLineLogger } from ${JSON.stringify(join(modules, 'http/logging.ts'))};
  const log = createLogger({ level: 'info', format: 'json' });
  const requests = requestLineLogger(log);
  // What holds the request lines: standard output's one writer, which their batches are handed to (a
  // writer of their own before it was one).
  const own = requests[pino.symbols.streamSym];
  const held = typeof own.flushSync === 'function' ? own : standardOutput();
  // Each ~6 KB: a batch of its own, handed on at once.
  const write = (text) => requests.info(JSON.parse(text), 'GET /posts 200 1ms');`,
      beside: `log.info('restauth: a log line');`,
      line: 'restauth: a log line',
      said: (text) => {
        try {
          return (JSON.parse(text) as { msg: string }).msg;
        } catch {
          return text;
        }
      },
    }),
  );
});

/**
 * Makes restauth's program modules fail to load, as a broken install would (a dependency missing). First a
 * child process is given standard error (stdio 'inherit'), as tsx's esbuild was when a module needed
 * compiling: it sets the pipe's shared description back to blocking once Node has opened it non-blocking.
 * The test hung 2 of 35 runs where that child came by chance (tsx's cache missing); here it always comes.
 */
const UNLOADABLE_PROGRAM = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module';
  import { spawnSync } from 'node:child_process';
  process.stderr;
  spawnSync(process.execPath, ['-e', ''], { stdio: ['ignore', 'ignore', 'inherit'] });
  register('data:text/javascript,' + encodeURIComponent(
    "export async function resolve(specifier, context, next) {" +
      "if (specifier === './program.js') throw new Error('program.js made unloadable by the test');" +
      "return next(specifier, context);" +
    "}"));`,
)}`;

/**
 * The entry (main.ts) imports the program's modules after bounding standard error. When that import
 * failed, the rejection reached the entry's top-level await, and Node printed it itself at exit, after
 * setting standard error back to blocking: with a full pipe and no reader reading, the process never
 * ended (a supervisor's restart waited on it forever).
 */
describe('the program failing to load with a full standard error (the real entry, main.ts)', () => {
  it('exits 1', { timeout: 300_000 }, async () => {
    const path = await namedPipe();
    // Held open, never read: the pipe stays full.
    const readEnd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    after(() => closeSync(readEnd));
    // Filled through an end of its own: the child's is blocking, as a shell's `2>|` would hand it over.
    const filler = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const page = Buffer.alloc(4096, 'x');
    assert.throws(
      () => {
        for (;;) writeSync(filler, page);
      },
      { code: 'EAGAIN' },
    );
    closeSync(filler);
    const child = spawnWith(
      ['--import', import.meta.resolve('tsx'), '--import', UNLOADABLE_PROGRAM, join(modules, 'cli/main.ts')],
      'stderr',
      openSync(path, constants.O_WRONLY),
    );
    let said = '';
    child.stdout!.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const exit = await within(exitOf(child), BOUND_MS, () => `exit, stderr full:\n${said}`);
    assert.deepEqual(exit, { code: 1, signal: null }, said);
  });
});
