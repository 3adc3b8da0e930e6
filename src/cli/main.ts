#!/usr/bin/env node
import { run } from './program.js';

// The exit code is set, not forced: a running server keeps the process alive.
process.exitCode = await run(process.argv);
