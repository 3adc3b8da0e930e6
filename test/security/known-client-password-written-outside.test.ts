import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { TestApp } from '../support/app.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * The guess limit's known clients end when the password is replaced (known-client-password-change
 * .test.ts), also when something else than restauth writes it to PostgreSQL: a GoTrue serving the
 * same database, or an administrator's `UPDATE auth.users SET encrypted_password = ...`. Before
 * migration 64 an attacker who had signed in with the stolen password stayed a known client for 30
 * days and could guess the new password past the account's budget. A rehash of the same password
 * (restauth upgrading its parameters at a sign-in) replaces nothing, and ends no known client.
 *
 * The app's clock starts an hour behind the database's, which dates the record of a write made outside
 * restauth: the sign-ins before a write come before it by both clocks (so the rehash, the first test,
 * would end its owner's known client if the trigger took it for a replaced password), and the owner's
 * fresh sign-in, two hours later by restauth's clock, after it by both.
 */

const PASSWORD = 'the stolen passphrase';
const NEW_PASSWORD = 'the owner new passphrase';
const GUESSES = 3;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

let clients = 0;
const nextClient = () => `2001:db8:78:${(++clients).toString(16)}::1`;

describe(
  'a password written outside restauth ends the known clients (PostgreSQL store)',
  { timeout: 60_000 },
  () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let database: pg.Client;

    before(async () => {
      store = await suiteStore('postgres');
      ({ t, sink } = await startMailingApp(
        {
          ...store.config,
          rateLimits: { passwordGuesses: { max: GUESSES, window: 900 } },
          dialects: { gotrue: {} },
        },
        { RESTAUTH_RATE_LIMITS: '' },
        { clockStoppedAt: Date.now() - HOUR_MS },
      ));
      database = new pg.Client({ connectionString: store.config.store!.url });
      await database.connect();
    });
    after(async () => {
      await database?.end();
      await stopMailingApp(t, sink);
      await store.drop();
    });

    const signIn = async (email: string, password: string, from: string) =>
      (
        await t.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          payload: { email, password },
          remoteAddress: from,
        })
      ).statusCode;

    it('a rehash of the same password by restauth ends no known client', async () => {
      const email = 'owner-rehash@acme.test';
      const owner = await confirmedGotrueAccount(t, sink, email, PASSWORD);
      const home = nextClient();
      // The owner's client, known; then restauth stores the same password hashed again (its own write).
      assert.equal(await signIn(email, PASSWORD, home), 200);
      t.advance(MINUTE_MS);
      const before = await t.services.store.getPasswordHash(owner.user.id);
      const rehashed = await t.services.hasher.hash(PASSWORD);
      assert.equal(await t.services.store.replacePasswordHash(owner.user.id, rehashed, before), true);
      for (let i = 0; i < GUESSES; i++)
        assert.equal(await signIn(email, `guess ${i}`, nextClient()), 400, `guess ${i}`);
      assert.equal(await signIn(email, PASSWORD, nextClient()), 429, 'a stranger, past the budget');
      assert.equal(await signIn(email, PASSWORD, home), 200, "the owner's client, still known");
    });

    it("an UPDATE of encrypted_password: the attacker's client is refused like anyone's, the owner's is known", async () => {
      const email = 'owner-sql@acme.test';
      const owner = await confirmedGotrueAccount(t, sink, email, PASSWORD);
      const attacker = nextClient();
      const home = nextClient();
      assert.equal(await signIn(email, PASSWORD, attacker), 200, 'the attacker signs in');
      t.advance(MINUTE_MS);
      const hash = await t.services.hasher.hash(NEW_PASSWORD);
      const written = await database.query('UPDATE auth.users SET encrypted_password = $1 WHERE id = $2', [
        hash,
        owner.user.id,
      ]);
      assert.equal(written.rowCount, 1);
      t.advance(2 * HOUR_MS);
      assert.equal(await signIn(email, NEW_PASSWORD, home), 200, "the owner's fresh sign-in");

      for (let i = 0; i < GUESSES; i++)
        assert.equal(await signIn(email, `guess ${i}`, attacker), 400, `guess ${i}`);
      assert.equal(
        await signIn(email, NEW_PASSWORD, nextClient()),
        429,
        'a client never seen, past the budget',
      );
      assert.equal(
        await signIn(email, NEW_PASSWORD, attacker),
        429,
        "the attacker's client, no longer known",
      );
      assert.equal(await signIn(email, NEW_PASSWORD, home), 200, "the owner's client goes on");
    });
  },
);
