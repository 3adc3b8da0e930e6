import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restauthCommand } from '../support/cli-command.js';
import { spawnRestauth } from '../support/process.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';

/**
 * restauth started while its database is down (issue 11.2): it waits,
 * saying for which database, and serves once the database is up; past
 * store.startupTimeout it exits with a message, not a stack.
 */
describe('starting while PostgreSQL is down', { skip: ownClusterUnavailable() ?? false }, () => {
  let cluster: OwnCluster;
  let dir: string;

  before(async () => {
    cluster = await startOwnCluster();
    await cluster.stop('fast');
    dir = await mkdtemp(join(tmpdir(), 'restauth-startup-'));
  });
  after(async () => {
    await cluster?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({
    DATABASE_URL: cluster.url.replace('postgres@', 'postgres:a-secret-password@'),
    RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef-0123456789',
  });

  it('exits after store.startupTimeout, naming the database and the setting, without a stack', async () => {
    const failed = spawnRestauth(dir, [], { ...env(), RESTAUTH_DB_STARTUP_TIMEOUT: '1' });
    await assert.rejects(failed, (error: Error) => {
      assert.match(error.message, /exited \(1\) before listening/u);
      assert.match(
        error.message,
        new RegExp(
          `PostgreSQL 127\\.0\\.0\\.1:${cluster.port}/postgres did not answer within 1 s \\(connect ECONNREFUSED`,
          'u',
        ),
      );
      assert.match(error.message, /RESTAUTH_DB_STARTUP_TIMEOUT/u);
      assert.doesNotMatch(error.message, /a-secret-password|\n\s+at /u);
      return true;
    });
  });

  it('a host name that does not resolve: the start names it and the setting to check, not "start it"', async () => {
    // .invalid never resolves (RFC 6761): a typo in the URL, or a DNS server that is down.
    const failed = spawnRestauth(dir, [], {
      ...env(),
      DATABASE_URL: 'postgres://postgres:a-secret-password@restauth-no-such-host.invalid:5432/postgres',
      RESTAUTH_DB_STARTUP_TIMEOUT: '0',
    });
    await assert.rejects(failed, (error: Error) => {
      assert.match(
        error.message,
        /PostgreSQL restauth-no-such-host\.invalid:5432\/postgres: its host name did not resolve for 0 s \(getaddrinfo (ENOTFOUND|EAI_AGAIN) restauth-no-such-host\.invalid\): check the host in store\.url \(DATABASE_URL\)/u,
      );
      assert.doesNotMatch(error.message, /start it|a-secret-password|\n\s+at /u);
      return true;
    });
  });

  it('restauth migrate waits the same way, and exits with the same message', async () => {
    const migrate = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [...restauthCommand(), 'migrate'], {
        cwd: dir,
        env: { ...process.env, ...env(), RESTAUTH_DB_STARTUP_TIMEOUT: '1' },
      });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('close', (code) => resolve({ code, output }));
    });
    assert.equal(migrate.code, 1, migrate.output);
    assert.match(migrate.output, /waiting for PostgreSQL 127\.0\.0\.1:\d+\/postgres/u);
    assert.match(migrate.output, /did not answer within 1 s/u);
    assert.doesNotMatch(migrate.output, /a-secret-password|\n\s+at /u);
  });

  it('waits with one log line naming the database, then serves once it is up', async () => {
    let announced: () => void;
    const waiting = new Promise<void>((resolve) => (announced = resolve));
    const starting = spawnRestauth(dir, [], { ...env(), RESTAUTH_DB_STARTUP_TIMEOUT: '120' }, (output) => {
      if (output.includes('waiting for PostgreSQL')) announced();
    });
    await waiting;
    await cluster.start();
    const server = await starting;
    try {
      const lines = server
        .output()
        .split('\n')
        .filter((line) => line.includes('waiting for PostgreSQL'));
      assert.equal(lines.length, 1, server.output());
      assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${cluster.port}/postgres`, 'u'));
      assert.doesNotMatch(server.output(), /a-secret-password/u);
      const ready = await fetch(`${server.url}/ready`);
      assert.equal(ready.status, 200, await ready.text());
    } finally {
      await server.stop();
    }
  });
});
