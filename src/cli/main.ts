#!/usr/bin/env node
import { keepRunningWhenOutputCloses } from './closed-output.js';
import { run } from './program.js';

keepRunningWhenOutputCloses();
// The exit code is set, not forced: a running server keeps the process alive.
process.exitCode = await run(process.argv);
