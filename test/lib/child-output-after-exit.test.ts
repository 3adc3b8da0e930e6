import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { untilOutput } from '../support/child-waits.js';
import { listeningProcess } from '../support/process.js';

/**
 * A child whose output is not all read when it exits: a process it started holds its standard output and
 * writes 'late line' when sent SIGUSR2, which the tests do at the child's 'exit'. So the last output comes
 * strictly after 'exit', as a loaded machine can make the last chunk of any child's pipe do.
 */
const script = `
import { spawn } from 'node:child_process';
const grandchild = spawn(process.execPath, ['-e', \`
  process.on('SIGUSR2', () => { process.stdout.write('late line\\\\n'); process.exit(0); });
  process.send('ready');
  process.disconnect();
  setInterval(() => {}, 60_000);
\`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
grandchild.once('message', () => {
  grandchild.unref();
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('restauth listening on http://127.0.0.1:1 grandchild=' + grandchild.pid + '\\n');
  setInterval(() => {}, 60_000);
});
`;

const grandchildren: number[] = [];
after(() => {
  for (const pid of grandchildren) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: the test sent it SIGUSR2.
    }
  }
});

function spawnWithLateOutput(): ChildProcess {
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Sends the grandchild (named in `output`) its cue to write the late line once `child` has exited. */
function lateLineAtExit(child: ChildProcess, output: () => string): void {
  const pid = Number(/grandchild=(\d+)/.exec(output())![1]);
  grandchildren.push(pid);
  child.once('exit', () => process.kill(pid, 'SIGUSR2'));
}

describe("a child's output after its exit", () => {
  it("spawnRestauth's stop() resolves once all its output is read", async () => {
    const restauth = await listeningProcess(spawnWithLateOutput());
    lateLineAtExit(restauth.child, restauth.output);
    assert.equal(await restauth.stop(), 0);
    assert.match(restauth.output(), /late line/);
  });

  it("untilOutput sees a pattern written after the child's exit", async () => {
    const child = spawnWithLateOutput();
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await untilOutput(child, () => output, /grandchild=\d+/);
    lateLineAtExit(child, () => output);
    const seen = untilOutput(child, () => output, /late line/);
    child.kill('SIGTERM');
    await seen;
  });
});
