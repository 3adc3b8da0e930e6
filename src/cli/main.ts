#!/usr/bin/env node
import { keepRunningWhenOutputsClose } from '../lib/closed-outputs.js';
import { boundStandardError } from './bounded-standard-error.js';
import { standardOutputThroughLogWriter } from './standard-stream-writes.js';
import { holdYoungGeneration, releaseYoungGeneration } from './young-generation.js';

// `restauth | head -1`, a log collector that died: a write with no reader left must not end the process.
keepRunningWhenOutputsClose();
// A reader that stops reading standard error must not make the process hold its lines without bound.
boundStandardError();
// Its own lines on standard output must not cut into a log line held part-written there.
standardOutputThroughLogWriter();

// Before the program's modules load (imported below, not statically: a bundle evaluates static imports first).
holdYoungGeneration();
const { run } = await import('./program.js').catch(notLoaded);
// The exit code is set, not forced: a running server keeps the process alive.
process.exitCode = await run(process.argv);
// Started (a server listens): requests may grow the young generation as far as they need.
releaseYoungGeneration();

/**
 * The program's modules did not load (a broken install: a dependency or a native module missing). Said
 * through the bounded standard error and ended here: a rejection left to this module's top-level await was
 * printed by Node itself at exit, after it had set standard error back to blocking, so a standard error
 * whose reader had stopped reading held the process forever.
 */
function notLoaded(error: unknown): never {
  console.error('restauth: its modules failed to load:', error);
  process.exit(1);
}
