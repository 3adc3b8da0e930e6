import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { exitOf, killedAfterTests, type ChildExit } from './child-waits.js';
import { restauthCommand } from './cli-command.js';
import { runCli } from './run-cli.js';

export interface RestauthProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGKILL, no clean-up: what a crash looks like. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the graceful exit. */
  stop(): Promise<number | null>;
}

/** Runs the real `restauth` command (the built bundle) in `cwd` and waits until it listens. */
export async function spawnRestauth(
  cwd: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  /** Sees the output as it comes, before the process listens (start-up messages). */
  onOutput?: (output: string) => void,
  /** 'pipe': the test writes to its standard input (child.stdin), as a person at its terminal would. */
  stdin: 'ignore' | 'pipe' = 'ignore',
): Promise<RestauthProcess> {
  const child = spawn(process.execPath, [...restauthCommand(), ...args], {
    cwd,
    env: {
      ...process.env,
      RESTAUTH_PORT: '0',
      RESTAUTH_LOG_LEVEL: 'info',
      RESTAUTH_RATE_LIMITS: 'off',
      ...env,
    },
    stdio: [stdin, 'pipe', 'pipe'],
  });
  return listeningProcess(child, onOutput);
}

/**
 * `child` (a restauth, or a script that writes what one does) once it says it listens. Its ends are
 * 'close', not 'exit': at 'exit' its pipes may still hold output not yet read (or be held open by a process
 * it started), and tests parse output() right after stop().
 */
export async function listeningProcess(
  child: ChildProcess,
  onOutput?: (output: string) => void,
): Promise<RestauthProcess> {
  let output = '';
  const exited = exitOf(child).then(({ code }) => code);
  const url = await new Promise<string>((resolve, reject) => {
    // Only a guard against a start that never comes (the exit handler catches a failed one): three
    // processes compiling TypeScript at once on a loaded 2-core machine were seen taking over 30 s.
    const timer = setTimeout(() => {
      // Not left running behind the failed test.
      child.kill('SIGKILL');
      reject(new Error(`restauth did not start:\n${output}`));
    }, 180_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      onOutput?.(output);
      const match = /restauth listening on (http:\/\/[^\s"]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`restauth exited (${code}) before listening:\n${output}`));
    });
  });
  return {
    child,
    url,
    output: () => output,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The crash suites' server: restauth in `dir` on a json-data-server config.json (the fastest password
 * salt, a fixed secret), started by the real command.
 */
export async function spawnCrashTarget(dir: string): Promise<RestauthProcess> {
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      auth: { passwordSalt: 4, jwtSecret: 'crash-test-secret-0123456789abcdefghij-0123456789' },
    }),
  );
  return spawnRestauth(dir);
}

/** Runs an ES module script given as text, with TypeScript imports, in a child Node process. */
export function spawnTsScript(script: string, args: string[], stdout: 'pipe' | 'inherit'): ChildProcess {
  return spawn(process.execPath, tsScriptArgs(script, args), { stdio: ['ignore', stdout, 'inherit'] });
}

/** spawnTsScript with its standard input, output and error each a pipe of the test's; killed after the tests. */
export function spawnPipedTsScript(script: string): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, tsScriptArgs(script, []), { stdio: 'pipe' });
  killedAfterTests(child);
  return child;
}

/** Node's arguments to run `script` (an ES module as text, with TypeScript imports) with `args`. */
export function tsScriptArgs(script: string, args: string[]): string[] {
  return ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script, ...args];
}

/**
 * Runs the restauth CLI to its exit in `cwd` with this process's environment and `env` added;
 * its stdout and stderr as one text.
 */
export async function runRestauth(
  cwd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runCli(cwd, args, { ...process.env, ...env });
  return { code, output: `${stdout}${stderr}` };
}

/**
 * `restauth init` in a fresh temp folder, then the real server there (spawnRestauth); after the test,
 * the server SIGKILLed if it still runs and the folder removed. `exited`: how the server ends.
 */
export async function servedAfterInit(
  env: NodeJS.ProcessEnv = {},
  stdin: 'ignore' | 'pipe' = 'ignore',
): Promise<{ dir: string; server: RestauthProcess; exited: Promise<ChildExit> }> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-served-'));
  const started: { server?: RestauthProcess } = {};
  after(async () => {
    // The server first: its folder is removed once nothing writes there.
    const { server } = started;
    if (server && server.child.exitCode === null && server.child.signalCode === null) await server.kill();
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal((await runRestauth(dir, ['init'], {})).code, 0);
  const server = await spawnRestauth(dir, [], env, undefined, stdin);
  started.server = server;
  return { dir, server, exited: exitOf(server.child) };
}
