import { after, before, describe, it } from 'node:test';
import {
  addAnswerFirstUsers,
  answerFirstAnswers,
  ANSWER_FIRST_DIALECTS,
  assertAnswered,
} from '../support/answer-first.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { testStoreConfig } from '../support/postgres.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * The routes that answer before their work (support/answer-first.ts) while PostgreSQL is stopped:
 * nothing they promise can be looked up or stored, so each answers 503 for every address, known or
 * not, instead of "sent", and works again once the database is back.
 */
describe(
  'answer-first routes while PostgreSQL is stopped',
  { skip: ownClusterUnavailable() ?? false },
  () => {
    let cluster: OwnCluster;
    let t: TestApp;
    let sink: SmtpSink;

    before(async () => {
      cluster = await startOwnCluster();
      sink = await startSmtpSink();
      t = await createTestApp({
        format: 'restauth',
        config: {
          passwords: FAST_HASHING,
          email: sinkMailSettings(sink),
          signup: { confirmEmail: true },
          siteUrl: 'https://app.test',
          dialects: ANSWER_FIRST_DIALECTS,
          store: testStoreConfig(cluster.url),
        },
      });
      await addAnswerFirstUsers(t);
    });
    after(async () => {
      await cluster?.start().catch(() => {});
      await t?.close();
      await sink?.close();
      await cluster?.destroy();
    });

    it('answers 200 for every address while it runs, 503 for every address while stopped, 200 again after', async () => {
      assertAnswered(await answerFirstAnswers(t), /^20[01] /u, 'with the database up');
      await t.services.idle();
      await cluster.stop('fast');
      assertAnswered(await answerFirstAnswers(t), /^503 retry-after=5 /u, 'with the database stopped');
      await t.services.idle();
      await cluster.start();
      assertAnswered(await answerFirstAnswers(t), /^20[01] /u, 'with the database back');
      await t.services.idle();
    });
  },
);
