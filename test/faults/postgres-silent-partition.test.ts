import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { partitionedUrl, startPartitionProxyTo, type PartitionProxy } from '../support/partition-proxy.js';
import { assertUnavailable, signedUpUsers, tokenGrants, useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { served } from '../support/restauth-short-bounds.js';

/** Refreshes at once, more than one batch's worth of waiting, beside sign-ins and sign-ups. */
const CONCURRENT = 6;

/**
 * A silent network partition between restauth and PostgreSQL: a proxy between them stops
 * forwarding, both ways, with no RST and no FIN. The pool's connections stay open and idle ones
 * look fine; a query written to one is never answered; a new connection is accepted and never
 * hears back. Only restauth's own bounds (store.connectTimeout, store.queryTimeout and the
 * client's grace after it) end the waits: each request must answer 503 with Retry-After, /ready
 * must say the database is unreachable, and once the partition heals the same process serves
 * again, the sessions whose refresh was cut off included (their retry is not taken for a reuse).
 * The test ends because the answers arrive: a hang fails it by its timeout.
 */
describe(
  'a silent network partition to PostgreSQL',
  { skip: realServerOnly() ?? false, timeout: 120_000 },
  () => {
    let proxy: PartitionProxy;
    before(async () => {
      proxy = await startPartitionProxyTo((await testPostgres()).url);
    });
    const t = useFaultApp({
      // 1 s a statement (3 s for its answer, pool.ts's grace), 1 s to connect: the shortest bounds.
      config: (url) => ({
        store: { ...testStoreConfig(partitionedUrl(url, proxy)), connectTimeout: 1, queryTimeout: 1 },
        // No reuse grace, as for a client backing off past it: within it any retry of a rotated token passes.
        sessions: { reuseGrace: 0 },
      }),
    });
    after(async () => {
      proxy?.heal();
      await proxy?.close();
    });

    const { signIn, refresh } = tokenGrants(t);
    const ready = async () => {
      const response = await t.app.app.inject({ method: 'GET', url: '/ready' });
      return {
        status: response.statusCode,
        retryAfter: response.headers['retry-after'],
        text: response.body,
      };
    };

    const signedUp = (prefix: string) => signedUpUsers(t, prefix, CONCURRENT);
    /** Each token, retried after the outage, gets a successor that refreshes again: no session was lost. */
    const sessionsLiveOn = async (tokens: readonly string[]) => {
      for (const token of tokens) {
        const retried = await served(() => refresh(token));
        assert.equal(retried.status, 200, JSON.stringify(retried.body));
        const next = await served(() => refresh((retried.body as { refresh_token: string }).refresh_token));
        assert.equal(next.status, 200, `the session lives on: ${JSON.stringify(next.body)}`);
      }
    };
    /** Refresh tokens of the users named `prefix`-... that were rotated (spent), read in the database. */
    const rotatedOf = async (prefix: string) => {
      const client = new pg.Client({ connectionString: t.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ count: string }>(
          `SELECT count(*) FROM auth.refresh_tokens r JOIN auth.users u ON u.id::text = r.user_id
           WHERE r.revoked AND u.email LIKE $1`,
          [`${prefix}-%`],
        );
        return Number(rows[0]!.count);
      } finally {
        await client.end();
      }
    };
    it('answers 503 within its bounds while partitioned, and serves the same sessions once it heals', async () => {
      const { emails, tokens } = await signedUp('partitioned');
      assert.ok(proxy.connections > 0, 'the pool holds connections through the proxy');

      proxy.partition();
      assertUnavailable(
        await Promise.all([
          ...tokens.map((token) => refresh(token)),
          signIn(emails[0]!),
          t.signUp('during-the-partition@example.com').then((response) => ({
            status: response.statusCode,
            retryAfter: response.headers['retry-after'],
            body: response.json() as unknown,
          })),
        ]),
      );
      const notReady = await ready();
      assert.equal(notReady.status, 503, notReady.text);

      proxy.heal();
      assert.equal((await served(ready)).status, 200, 'ready again once the partition heals');
      assert.equal((await served(() => signIn(emails[0]!))).status, 200);
      // Each session's refresh was cut off before it reached the database: retried, it works.
      await sessionsLiveOn(tokens);
    });

    it('a refresh batch that ran, whose answer the partition held: 503, and its retry is no reuse', async () => {
      const { tokens } = await signedUp('answer-held');
      // The refreshes' statement reaches PostgreSQL and commits; its answer never comes back.
      proxy.partitionAfterNextWrite();
      assertUnavailable(await Promise.all(tokens.map((token) => refresh(token))));
      proxy.heal();
      assert.equal((await served(ready)).status, 200, 'ready again once the partition heals');
      assert.ok((await rotatedOf('answer-held')) > 0, 'the statement whose answer was held did rotate');
      // A token rotated by a statement whose answer was lost is retried: the client never saw its
      // successor, so taking the retry for a stolen token's reuse would sign the user out.
      await sessionsLiveOn(tokens);
    });
  },
);
