import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * How `child` ends, once what it wrote is all read ('close', after 'exit'). Call it at once after
 * spawning: an end before the call would not be seen.
 */
export function exitOf(child: ChildProcess): Promise<ChildExit> {
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
}

/**
 * `promise`, or a failure saying `what` did not happen within `ms`: a bound on a wait that would otherwise
 * hang the test run (a process that never exits), never a timing assertion, so set it far above any
 * loaded machine's time.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms / 1000} s: ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves once `output()` (what `child` wrote so far) matches `pattern`; fails if `child` ends first,
 * saying what it wrote. Checked at each chunk `child` writes on standard output or error. The end is
 * 'close', not 'exit': output still in the pipes at 'exit' may hold the pattern.
 */
export function untilOutput(child: ChildProcess, output: () => string, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(output())) return;
      stop();
      resolve();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      stop();
      reject(new Error(`exited (${code ?? signal}) before writing ${pattern}:\n${output()}`));
    };
    const stop = () => {
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('close', onExit);
    };
    // After the listeners that gather the output, which were added at spawn: a chunk is in output() here.
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('close', onExit);
    check();
  });
}

/** SIGKILLs `child` when the test file ends unless it has exited: no test leaves a process behind. */
export function killedAfterTests(child: ChildProcess): void {
  after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = exitOf(child);
    child.kill('SIGKILL');
    await exited;
  });
}
