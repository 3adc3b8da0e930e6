#!/usr/bin/env node
import { holdYoungGeneration, releaseYoungGeneration } from './young-generation.js';

// Before the program's modules load (imported below, not statically: a bundle evaluates static imports first).
holdYoungGeneration();
const { run } = await import('./program.js');
// The exit code is set, not forced: a running server keeps the process alive.
process.exitCode = await run(process.argv);
// Started (a server listens): requests may grow the young generation as far as they need.
releaseYoungGeneration();
