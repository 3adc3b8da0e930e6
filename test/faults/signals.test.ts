import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { servedAfterInit } from '../support/process.js';

/**
 * The signals a server meets besides SIGTERM. SIGHUP comes when the terminal
 * (or the ssh session) restauth was started from closes, and Node does not
 * keep nohup's "ignored": its default ends the process at once, cutting the
 * requests being handled and leaving the journals unfolded. restauth reads
 * its configuration once, so there is nothing to reload: SIGHUP stops it as
 * SIGTERM and SIGINT do, finishing what it is doing. SIGUSR2, which nodemon
 * and other restarters send, ended it at once too by Node's default: it stops
 * gracefully alike. SIGUSR1 opened Node's inspector on 127.0.0.1:9229, where
 * any local user could run code in the server: restauth ignores it.
 */
describe('signals (the real CLI, file store)', () => {
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGUSR2'] as const) {
    it(
      `${signal} stops gracefully: exit 0, the sign-up's journaled entries folded into credentials.json`,
      // A guard against a hang only: a CLI start through tsx on a loaded machine can take long.
      { timeout: 300_000 },
      async () => {
        const { dir, server, exited } = await servedAfterInit();
        const signUp = await fetch(`${server.url}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'hangup', password: 'a passphrase of some length' }),
        });
        assert.ok(signUp.status < 300, `${signUp.status} ${await signUp.text()}`);
        // Acknowledged once journaled; the file itself is rewritten at a stop (or once the journal is large).
        assert.doesNotMatch(await readFile(join(dir, 'credentials.json'), 'utf8'), /hangup/u);

        server.child.kill(signal);
        const { code, signal: killedBy } = await exited;
        assert.deepEqual({ code, killedBy }, { code: 0, killedBy: null }, server.output());
        assert.match(server.output(), new RegExp(`${signal} received, closing`, 'u'));
        assert.match(await readFile(join(dir, 'credentials.json'), 'utf8'), /hangup/u);
        const journal = await stat(join(dir, '.credentials.json.journal')).catch(() => null);
        assert.ok(journal === null || journal.size === 0, 'the journal is folded in');
      },
    );
  }

  it(
    'SIGUSR1 opens no inspector and stops nothing: the server answers after it',
    { timeout: 300_000 },
    async () => {
      const { server, exited } = await servedAfterInit();
      try {
        // Either line ends the wait: restauth's own, or Node's once its inspector listens (or failed to,
        // its port taken by another process on this machine).
        const answered = /SIGUSR1 received and ignored|Debugger listening|Starting inspector/u;
        const seen = new Promise<void>((resolve) => {
          const onData = () => {
            if (!answered.test(server.output())) return;
            server.child.stderr?.off('data', onData);
            resolve();
          };
          server.child.stderr?.on('data', onData);
        });
        server.child.kill('SIGUSR1');
        await seen;
        assert.doesNotMatch(server.output(), /Debugger listening|Starting inspector/u);
        const health = await fetch(`${server.url}/health`);
        assert.equal(health.status, 200);
      } finally {
        server.child.kill('SIGTERM');
      }
      const { code, signal: killedBy } = await exited;
      assert.deepEqual({ code, killedBy }, { code: 0, killedBy: null }, server.output());
    },
  );
});
