import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createLogger } from '../../src/http/logging.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { lineSink } from '../support/log-lines.js';
import { testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

const PASSWORD = 'refused row passphrase 1';

/**
 * When PostgreSQL refuses a row (a CHECK an operator added, a NOT NULL, a trigger), its error's
 * detail quotes the whole row: `Failing row contains (..., $2b$04$..., ...)` for a user, the token
 * itself for a refresh token. pg keeps the detail on the error and pino's err serializer copied it
 * into the line of the failed request. The real app on PostgreSQL, logging JSON lines as `restauth
 * serve` does, is made to fail such writes; its lines must still say which constraint refused the
 * write, and never the row.
 */
describe('a row PostgreSQL refuses is not written to the log', () => {
  let t: TestApp;
  const lines: string[] = [];
  const db = useTestDatabase({ max: 1, beforeDrop: () => t?.close() });

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { store: testStoreConfig(db.url), passwords: FAST_HASHING, dialects: { gotrue: {} } },
      log: createLogger(
        { level: 'info', format: 'json' },
        lineSink((line) => lines.push(line)),
      ),
    });
  });

  /** The line of the request that failed on `constraint`, parsed, after checking no line holds a row. */
  const failedOn = (constraint: string) => {
    for (const line of lines) {
      assert.doesNotMatch(line, /Failing row contains \(|\$2[aby]\$/u, line);
    }
    const line = lines.find((text) => text.includes(`"constraint":"${constraint}"`));
    assert.ok(line, `a line names ${constraint}`);
    return (JSON.parse(line) as { err: { code: string; table: string; detail: string } }).err;
  };

  it("a user row (the password's hash) refused by a CHECK constraint on sign-up", async () => {
    await db.pool.query(
      `ALTER TABLE auth.users ADD CONSTRAINT no_refused_domain CHECK (email NOT LIKE '%@refused.test') NOT VALID`,
    );
    const answer = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'someone@refused.test', password: PASSWORD },
    });
    assert.equal(answer.statusCode, 500, answer.body);
    const err = failedOn('no_refused_domain');
    assert.equal(err.code, '23514');
    assert.equal(err.table, 'users');
    assert.match(err.detail, /redacted/u);
  });

  it('a refresh token row refused on sign-in', async () => {
    const email = 'signing-in@accepted.test';
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email, password: PASSWORD },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    await db.pool.query(
      `ALTER TABLE auth.refresh_tokens ADD CONSTRAINT no_new_tokens CHECK (false) NOT VALID`,
    );
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email, password: PASSWORD },
    });
    assert.equal(signIn.statusCode, 500, signIn.body);
    const err = failedOn('no_new_tokens');
    assert.equal(err.table, 'refresh_tokens');
    assert.match(err.detail, /redacted/u);
    assert.ok(!lines.some((line) => line.includes(PASSWORD)));
  });

  it('a value a data exception (class 22) quotes in its message: a CHECK casting user metadata', async () => {
    const quoted = 'quoted-input-token-0123456789';
    await db.pool.query(
      `ALTER TABLE auth.users ADD CONSTRAINT numeric_age CHECK ((raw_user_meta_data->>'age')::int >= 0) NOT VALID`,
    );
    const answer = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'aged@accepted.test', password: PASSWORD, data: { age: quoted } },
    });
    assert.ok(answer.statusCode >= 500, answer.body);
    assert.ok(!lines.some((line) => line.includes(quoted)), 'no line quotes the refused value');
    const line = lines.find((text) => text.includes('"code":"22P02"'));
    assert.ok(line, 'a line names the data exception');
    const { err } = JSON.parse(line) as { err: { message: string } };
    assert.match(err.message, /invalid input syntax for type integer: "\[redacted\]"/u);
  });
});
