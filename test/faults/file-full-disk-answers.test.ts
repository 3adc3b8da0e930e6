import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addAnswerFirstUsers,
  answerFirstAnswers,
  ANSWER_FIRST_DIALECTS,
  assertAnswered,
  KNOWN,
  UNCONFIRMED,
} from '../support/answer-first.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { fillUp } from '../support/tmpfs.js';

/**
 * The routes that answer before their work (support/answer-first.ts) on a full disk: their work
 * cannot be stored, so each must answer 507 for every address, known or not, instead of "sent",
 * and work again once space is back. A real app on a real tmpfs that fills up, mail over real SMTP.
 */
const asRoot = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;
const MINUTE = 60_000;

describe(
  'answer-first routes on a full disk (file store)',
  { skip: !asRoot && 'needs root to mount a tmpfs' },
  () => {
    let dir: string;
    let t: TestApp;
    let sink: SmtpSink;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-full-'));
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
      assert.equal(mounted.status, 0, mounted.stderr.toString());
      sink = await startSmtpSink();
      t = await createTestApp({
        format: 'restauth',
        dir,
        config: {
          passwords: FAST_HASHING,
          email: sinkMailSettings(sink),
          signup: { confirmEmail: true },
          siteUrl: 'https://app.test',
          dialects: ANSWER_FIRST_DIALECTS,
        },
      });
      await addAnswerFirstUsers(t);
    });
    after(async () => {
      // Space for the shutdown's compaction, should a test have stopped on a full disk.
      await rm(join(dir, 'filler'), { force: true });
      await t?.close();
      await sink?.close();
      spawnSync('umount', [dir]);
      await rmdir(dir).catch(() => {});
    });

    const mailed = () => sink.mails.filter((mail) => mail.to === KNOWN || mail.to === UNCONFIRMED).length;

    it('answers 200 for every address with space, 507 for every address on a full disk, 200 again once freed', async () => {
      assertAnswered(await answerFirstAnswers(t), /^20[01] /u, 'with space');
      await t.services.idle();
      const mailedBefore = mailed();
      assert.ok(mailedBefore > 0, 'the known addresses were mailed');

      // Past the mail throttle (one a minute per kind), so a mail that could be sent would be.
      t.advance(2 * MINUTE);
      const filler = join(dir, 'filler');
      await fillUp(filler);
      assertAnswered(await answerFirstAnswers(t), /^507 retry-after=60 /u, 'on a full disk');
      await t.services.idle();
      assert.equal(mailed(), mailedBefore, 'nothing was mailed while nothing could be stored');

      await rm(filler);
      assertAnswered(await answerFirstAnswers(t), /^20[01] /u, 'once freed');
      await t.services.idle();
      assert.ok(mailed() > mailedBefore, 'the known addresses are mailed again');
    });
  },
);
