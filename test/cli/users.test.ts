import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { gotrueClient, listen } from '../support/gotrue.js';
import { readMailQueueFile } from '../support/mail-queue-file.js';
import { suiteStore } from '../support/postgres.js';
import { spawnRestauth } from '../support/process.js';
import { cliTempDir, runCli } from '../support/run-cli.js';
import { sinkMailSettings, startSmtpSink } from '../support/smtp-sink.js';

/**
 * `restauth users ...` run as an operator runs it (the real CLI, a child
 * process) on both stores, with a server's clients signing in around it: what
 * the CLI does shows in what the server then answers.
 */
const SECRET = 'a-private-secret-for-the-users-cli-0123456789';
const ENV = { RESTAUTH_JWT_SECRET: SECRET, RESTAUTH_RATE_LIMITS: 'off' };
// The CLI limits nothing, and rate limits off are warned of on stderr, which these tests read whole.
const CLI_ENV = { RESTAUTH_JWT_SECRET: SECRET };
const PASSWORD = 'correct horse battery';

interface PrintedUser {
  id: string;
  email: string;
  emailConfirmedAt: string | null;
  bannedUntil: string | null;
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`restauth users (${storeKind} store)`, () => {
    let dir: string;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    const config = () => ({ ...store.config, passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } });

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-users-'));
      store = await suiteStore(storeKind);
      await writeFile(join(dir, 'restauth.json'), JSON.stringify(config()));
    });
    after(async () => {
      await store.drop();
      await rm(dir, { recursive: true, force: true });
    });

    /** The CLI in the folder of restauth.json; it must succeed. */
    async function users(args: string[], input?: string): Promise<string> {
      const result = await runCli(dir, ['users', ...args], CLI_ENV, input);
      assert.equal(result.code, 0, `users ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    }

    /** A server on the same store (PostgreSQL: alongside the CLI; file store: the CLI must wait for it to stop). */
    async function server(): Promise<{ t: TestApp; url: string }> {
      const t = await createTestApp({ format: 'restauth', config: config(), env: ENV, dir });
      return { t, url: await listen(t) };
    }

    it('create, list newest first with paging, show, sessions, sign-out, ban, confirm, set-password, delete', async () => {
      const ann = JSON.parse(
        await users(
          ['create', 'ann@acme.test', '--password-stdin', '--confirmed', '--json'],
          `${PASSWORD}\n`,
        ),
      ) as PrintedUser;
      assert.equal(ann.email, 'ann@acme.test');
      assert.notEqual(ann.emailConfirmedAt, null);
      const bob = JSON.parse(await users(['create', 'bob@acme.test', '--json'])) as PrintedUser;
      assert.equal(bob.emailConfirmedAt, null);

      const first = JSON.parse(await users(['list', '--per-page', '1', '--json'])) as {
        users: PrintedUser[];
        total: number;
      };
      assert.deepEqual(
        first.users.map((user) => user.email),
        ['bob@acme.test'],
        'newest first',
      );
      assert.equal(first.total, 2);
      const second = JSON.parse(await users(['list', '--per-page', '1', '--page', '2', '--json'])) as {
        users: PrintedUser[];
      };
      assert.deepEqual(
        second.users.map((user) => user.email),
        ['ann@acme.test'],
      );
      assert.match(
        await users(['list']),
        /^ID +EMAIL .*\n.*bob@acme\.test.*\n.*ann@acme\.test.*\npage 1 of 1, 2 users\n$/,
      );
      // By address (any case), by id.
      assert.match(await users(['show', 'ANN@acme.test']), new RegExp(`^id: +${ann.id}$`, 'm'));
      assert.equal(
        (JSON.parse(await users(['show', ann.id, '--json'])) as PrintedUser).email,
        'ann@acme.test',
      );

      // Two sessions of ann, made by a client of the server.
      let { t, url } = await server();
      const signIns = [];
      for (let i = 0; i < 2; i++) {
        const signIn = await gotrueClient(url).client.signInWithPassword({
          email: 'ann@acme.test',
          password: PASSWORD,
        });
        assert.equal(signIn.error, null);
        signIns.push(signIn.data.session!);
      }
      if (storeKind === 'file') await t.close();

      const sessionsOutput = await users(['sessions', 'ann@acme.test', '--json']);
      const sessions = JSON.parse(sessionsOutput) as Array<{ id: string; createdAt: string }>;
      assert.equal(sessions.length, 2);
      assert.deepEqual(Object.keys(sessions[0]!).sort(), ['createdAt', 'id', 'notAfter', 'refreshedAt']);
      for (const signIn of signIns) {
        assert.equal(sessionsOutput.includes(signIn.refresh_token), false, 'no refresh token is printed');
      }
      assert.match(
        await users(['sign-out', 'ann@acme.test']),
        new RegExp(`^ended 2 sessions of ${ann.id}\\n$`),
      );
      assert.deepEqual(JSON.parse(await users(['sessions', 'ann@acme.test', '--json'])), []);
      assert.match(await users(['sessions', 'ann@acme.test']), /^no live sessions\n$/);

      const banned = JSON.parse(await users(['ban', 'bob@acme.test', '24h', '--json'])) as PrintedUser;
      const until = Date.parse(banned.bannedUntil ?? '');
      assert.ok(Math.abs(until - (Date.now() + 24 * 3600_000)) < 10 * 60_000, banned.bannedUntil ?? 'null');
      assert.notEqual(
        (JSON.parse(await users(['confirm', 'bob@acme.test', '--json'])) as PrintedUser).emailConfirmedAt,
        null,
      );
      await users(['set-password', 'bob@acme.test', '--password-stdin'], 'bob passphrase 2\n');

      if (storeKind === 'file') ({ t, url } = await server());
      try {
        // Ann's sessions are over: her refresh tokens and access tokens are refused.
        for (const signIn of signIns) {
          const { client } = gotrueClient(url);
          const refreshed = await client.refreshSession({ refresh_token: signIn.refresh_token });
          assert.notEqual(refreshed.error, null, 'a signed-out refresh token is refused');
          assert.notEqual(
            (await client.getUser(signIn.access_token)).error,
            null,
            'a signed-out access token is refused',
          );
        }
        // Bob is banned, with the password the CLI set.
        const bobSignIn = await gotrueClient(url).client.signInWithPassword({
          email: 'bob@acme.test',
          password: 'bob passphrase 2',
        });
        assert.equal((bobSignIn.error as { code?: string } | null)?.code, 'user_banned');
      } finally {
        if (storeKind === 'file') await t.close();
      }
      assert.match(await users(['ban', 'bob@acme.test', 'none']), new RegExp(`^${bob.id} is not banned\\n$`));
      if (storeKind === 'file') ({ t, url } = await server());
      try {
        const bobSignIn = await gotrueClient(url).client.signInWithPassword({
          email: 'bob@acme.test',
          password: 'bob passphrase 2',
        });
        assert.equal(bobSignIn.error, null, 'the ban is lifted');
      } finally {
        await t.close();
      }

      assert.match(
        await users(['delete', 'bob@acme.test']),
        new RegExp(`^deleted ${bob.id} \\(bob@acme\\.test\\)\\n$`),
      );
      const gone = await runCli(dir, ['users', 'show', 'bob@acme.test'], CLI_ENV);
      assert.equal(gone.code, 1);
      assert.equal(gone.stderr, 'restauth: User not found\n');
    });

    it('bad input is a one-line message and a non-zero exit, nothing changed', async () => {
      for (const [args, input, message] of [
        [['ban', 'ann@acme.test', '3d'], undefined, /^restauth: invalid format for ban duration: "3d"\n$/],
        [
          ['set-password', 'ann@acme.test', '--password-stdin'],
          'short\n',
          /^restauth: Password should be at least 8 characters\n$/,
        ],
        [['set-password', 'ann@acme.test'], undefined, /--password-stdin/],
        [
          ['create', 'not-an-address'],
          undefined,
          /^restauth: Unable to validate email address: invalid format\n$/,
        ],
        [
          ['create', 'ann@acme.test'],
          undefined,
          /^restauth: A user with this email address has already been registered\n$/,
        ],
        [['list', '--per-page', '0'], undefined, /must be a whole number from 1 to 1000/],
      ] as const) {
        const result = await runCli(dir, ['users', ...args], CLI_ENV, input);
        assert.notEqual(result.code, 0, args.join(' '));
        assert.match(result.stderr, message, args.join(' '));
      }
      // ann can still sign in with her password.
      const { t, url } = await server();
      try {
        const signIn = await gotrueClient(url).client.signInWithPassword({
          email: 'ann@acme.test',
          password: PASSWORD,
        });
        assert.equal(signIn.error, null);
      } finally {
        await t.close();
      }
    });
  });
}

describe('restauth users on a file store a server is running on', () => {
  it('refuses, naming the running process, and changes nothing', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ jwt: { secret: SECRET } }));
    const running = await spawnRestauth(dir);
    try {
      const result = await runCli(dir, ['users', 'create', 'cid@acme.test'], CLI_ENV);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        new RegExp(
          `^restauth: .*db\\.json is in use by another restauth \\(pid ${running.child.pid}\\b.*stop it first`,
        ),
      );
      const signUp = await fetch(`${running.url}/auth/v1/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'cid@acme.test', password: PASSWORD }),
      });
      assert.equal(signUp.status, 200, 'the address is still free: the CLI wrote nothing');
    } finally {
      await running.stop();
    }
  });
});

describe('restauth users and the mail queue', () => {
  it('sends no queued mail and leaves the queue as it was: it is the server’s to send', async () => {
    const sink = await startSmtpSink();
    const dir = await cliTempDir();
    try {
      await writeFile(
        join(dir, 'restauth.json'),
        JSON.stringify({ jwt: { secret: SECRET }, email: sinkMailSettings(sink) }),
      );
      // A mail due now, as a server that stopped before sending it left the queue.
      const queued = {
        id: randomUUID(),
        message: { to: 'ann@acme.test', subject: 'Waiting', text: 'waiting', html: '<p>waiting</p>' },
        attempts: 0,
        nextAttemptAt: 0,
        lastError: null,
      };
      const queueFile = join(dir, '.restauth', 'mail-queue.json');
      await mkdir(join(dir, '.restauth'), { recursive: true });
      await writeFile(queueFile, JSON.stringify({ version: 1, mails: [queued] }), { mode: 0o600 });

      const result = await runCli(dir, ['users', 'list', '--json'], CLI_ENV);
      assert.equal(result.code, 0, result.stderr);
      // The command has exited: whatever it would have sent has been sent.
      assert.equal(sink.mails.length, 0);
      assert.deepEqual(await readMailQueueFile(queueFile), { live: [queued], dead: [] });
    } finally {
      await sink.close();
    }
  });
});
