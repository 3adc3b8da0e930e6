#!/usr/bin/env node
import { keepRunningWhenOutputsClose } from '../lib/closed-outputs.js';
import { holdYoungGeneration, releaseYoungGeneration } from './young-generation.js';

// `restauth | head -1`, a log collector that died: a write with no reader left must not end the process.
keepRunningWhenOutputsClose();

// Before the program's modules load (imported below, not statically: a bundle evaluates static imports first).
holdYoungGeneration();
const { run } = await import('./program.js');
// The exit code is set, not forced: a running server keeps the process alive.
process.exitCode = await run(process.argv);
// Started (a server listens): requests may grow the young generation as far as they need.
releaseYoungGeneration();
