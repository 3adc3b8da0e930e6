import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { restauthCommand } from './cli-command.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `restauth` command (the built bundle) in `cwd` to its end, with a
 * clean environment: only PATH, HOME and `env` (no DATABASE_URL or PORT leaking in).
 */
export function runCli(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  /** Written to its standard input (a password for --password-stdin); none: stdin is closed. */
  input?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...restauthCommand(), ...args], {
      cwd,
      env: { PATH: process.env['PATH'], HOME: cwd, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A fresh temp folder, removed when the test file ends. */
export async function cliTempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-cli-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
