// Starts an installed `restauth` on an empty folder, signs a user up and in over HTTP, and stops it
// with SIGTERM: what a first-time user does after `npm i -g`. Plain Node, no dependency: it runs
// against the installed package only. Usage: node package-smoke.mjs <restauth bin> <empty folder>
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [bin, dir] = process.argv.slice(2);
if (!bin || !dir) throw new Error('usage: package-smoke.mjs <restauth bin> <empty folder>');

const child = spawn(bin, ['serve', '--port', '0', '--host', '127.0.0.1'], {
  cwd: dir,
  env: { PATH: process.env.PATH, HOME: dir, RESTAUTH_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
// A start that never says where it listens fails the check instead of hanging CI.
const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);

try {
  const url = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk.toString();
      const match = /restauth listening on (\S+)/.exec(output);
      if (match) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(({ code, signal }) =>
      reject(new Error(`restauth exited (${code ?? signal}) before listening`)),
    );
  });

  const post = async (path, body) => {
    const response = await fetch(new URL(path, url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text);
  };
  const credentials = { username: 'first-user', password: 'a long enough password' };
  const signedUp = await post('/auth/register', credentials);
  if (typeof signedUp.access_token !== 'string')
    throw new Error(`sign-up gave no access token: ${JSON.stringify(signedUp)}`);
  const signedIn = await post('/auth/login', credentials);
  if (typeof signedIn.access_token !== 'string')
    throw new Error(`sign-in gave no access token: ${JSON.stringify(signedIn)}`);
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  if (code !== 0) throw new Error(`restauth stopped with ${code ?? signal} on SIGTERM`);
  // Read once stopped: a sign-up is journaled (.db.json.journal, fdatasynced before the answer) and
  // db.json rewritten with it within 0.2 s and at shutdown (docs/data-api.md), so only then is the
  // file itself certain to hold the user.
  const saved = readFileSync(join(dir, 'db.json'), 'utf8');
  // json-data-server's format: the user name is the record's id.
  if (!(JSON.parse(saved).users ?? []).some((user) => user.id === credentials.username)) {
    throw new Error(`db.json does not hold the user: ${saved}`);
  }
  console.log(`package-smoke: served ${url}, signed up and in, stopped cleanly`);
} catch (error) {
  child.kill('SIGKILL');
  console.error(`package-smoke: ${error.message}\n--- restauth output ---\n${output}`);
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
}
