import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';

/**
 * Issue 11's fault suite, the shared outbox: three restauth processes on one
 * real PostgreSQL send their welcome mails over real SMTP from the outbox
 * table they share. Under sign-up load one instance is killed with SIGKILL,
 * whatever it holds: mails queued, claimed or half sent.
 *
 * It must show: every acknowledged sign-up's mail arrives (the account and
 * its mail commit together, and a dead worker's claimed mails go out from
 * another instance once their lease ends), a mail sent twice keeps its
 * Message-ID, the survivors answer nothing but 2xx, and they still serve.
 * Phases end on events (so many acknowledged sign-ups, so many mails).
 */
const INSTANCES = 3;
const CLIENTS = 6;
/** Acknowledged sign-ups before the kill, and after it. */
const BEFORE_KILL = 20;
const AFTER_KILL = 20;
/** The shortest lease, so that a killed worker's mails come back at once, not after a real wait. */
const LEASE = '1s';

describe('a shared outbox when one instance is killed', { skip: ownClusterUnavailable() ?? false }, () => {
  let cluster: OwnCluster;
  let sink: SmtpSink;
  const dirs: string[] = [];
  let instances: RestauthProcess[] = [];

  before(async () => {
    cluster = await startOwnCluster();
    sink = await startSmtpSink();
    const env = {
      DATABASE_URL: cluster.url,
      RESTAUTH_JWT_SECRET: 'fault-suite-secret-0123456789abcdef',
      RESTAUTH_LOG_LEVEL: 'warn',
    };
    for (let i = 0; i < INSTANCES; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-outbox-fault-'));
      dirs.push(dir);
      await writeFile(
        join(dir, 'restauth.json'),
        JSON.stringify({
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          // A session at once, and a welcome mail queued with the account (no confirmation mail).
          signup: { confirmEmail: false },
          email: sinkMailSettings(sink),
          mailQueue: { lease: LEASE, poll: '1s' },
        }),
      );
    }
    // The first applies the migrations; the others find them applied.
    instances = [await spawnRestauth(dirs[0]!, [], env)];
    instances.push(...(await Promise.all(dirs.slice(1).map((dir) => spawnRestauth(dir, [], env)))));
  });
  after(async () => {
    await Promise.all(instances.slice(1).map((instance) => instance.stop()));
    await sink?.close();
    await cluster?.destroy();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('delivers every acknowledged sign-up’s mail, a repeat keeping its Message-ID, and the others serve on', async () => {
    const acknowledged: string[] = [];
    const statuses = new Map<string, number>();
    const bad: string[] = [];
    let killed = false;
    let stopping = false;
    let waiter: { target: number; resolve: () => void } | null = null;
    const reached = (target: number) =>
      acknowledged.length >= target
        ? Promise.resolve()
        : new Promise<void>((resolve) => (waiter = { target, resolve }));

    let serial = 0;
    const client = async (id: number) => {
      for (let round = 0; !stopping; round++) {
        const instance = (id + round) % INSTANCES;
        if (killed && instance === 0) continue;
        const email = `mail-${id}-${serial++}@example.com`;
        let status: number;
        try {
          const response = await fetch(`${instances[instance]!.url}/auth/v1/signup`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email, password: 'a passphrase' }),
          });
          status = response.status;
          const text = await response.text();
          if (status >= 300 && instance !== 0) bad.push(`${status} from instance ${instance}: ${text}`);
        } catch (error) {
          // The killed instance's requests in flight get no answer: not acknowledged, not a fault.
          if (instance !== 0) bad.push(`no answer from instance ${instance}: ${(error as Error).message}`);
          status = 0;
        }
        const key = `${killed ? 'after' : 'before'} kill, instance ${instance}: ${status}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (status === 200) {
          acknowledged.push(email);
          if (waiter && acknowledged.length >= waiter.target) {
            waiter.resolve();
            waiter = null;
          }
        }
      }
    };

    const clients = Array.from({ length: CLIENTS }, (_, id) => client(id));
    await reached(BEFORE_KILL);
    await instances[0]!.kill();
    killed = true;
    await reached(acknowledged.length + AFTER_KILL);
    stopping = true;
    await Promise.all(clients);

    // Every acknowledged address gets its mail: the survivors send what the dead worker had claimed
    // once its lease ends. The bound only keeps a lost mail from hanging the suite.
    await Promise.all(acknowledged.map((email) => sink.waitForMail((mail) => mail.to === email, 120_000)));

    const byAddress = new Map<string, Set<string>>();
    for (const mail of sink.mails) {
      const ids = byAddress.get(mail.to) ?? new Set<string>();
      ids.add(mail.messageId);
      byAddress.set(mail.to, ids);
    }
    const repeats = sink.mails.length - byAddress.size;
    console.log(
      `shared outbox, one instance killed: ${acknowledged.length} sign-ups acknowledged, ` +
        `${byAddress.size} addresses mailed, ${repeats} mails sent again; answers: ` +
        [...statuses].map(([key, count]) => `${key} x${count}`).join(', '),
    );
    assert.deepEqual(bad, [], 'the surviving instances answered every sign-up');
    for (const email of acknowledged) {
      assert.equal(byAddress.get(email)?.size, 1, `${email}: one Message-ID however often it was sent`);
    }
    for (const instance of instances.slice(1)) {
      const health = await fetch(`${instance.url}/health`);
      assert.equal(health.status, 200, 'a surviving instance still serves');
    }
  });
});
