import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliTempDir, runCli } from '../support/run-cli.js';

const PASSWORD = 'url-password-0123456789';

/**
 * A database or SMTP URL the parser refuses is most often refused for its password (an unescaped
 * `/`, `#` or `@`, or a port typed wrong next to it), and the messages naming it go to the
 * terminal and the container's log. The real command, run as an operator would, must name the
 * setting and never print the password; a password in a valid URL's query is hidden as one
 * in its user part is.
 */
describe('a refused URL setting is printed without its password', () => {
  const printedOnce = (output: string, what: string) => {
    assert.doesNotMatch(output, new RegExp(PASSWORD), what);
    assert.match(output, /\[redacted\]/u, what);
  };

  it('environment: DATABASE_URL and RESTAUTH_SMTP_URL that do not parse or have a wrong scheme', async () => {
    const dir = await cliTempDir();
    const variables: Array<[string, string]> = [
      ['DATABASE_URL', `postgres://app:${PASSWORD}@db.internal:99999/auth`],
      ['DATABASE_URL', `postgres://app:${PASSWORD}/with-slash@db.internal/auth`],
      ['DATABASE_URL', `mysql://app:${PASSWORD}@db.internal/auth`],
      ['RESTAUTH_SMTP_URL', `smtp://mailer:${PASSWORD}@mail.internal:99999`],
      ['RESTAUTH_SMTP_URL', `https://mailer:${PASSWORD}@mail.internal`],
    ];
    for (const [name, value] of variables) {
      const result = await runCli(dir, ['config'], { [name]: value });
      assert.equal(result.code, 2, `${name}=${value}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`${name} must be a URL`), value);
      printedOnce(result.stdout + result.stderr, value);
    }
  });

  it('restauth config prints a store.url that does not parse without its password', async () => {
    const dir = await cliTempDir();
    await writeFile(
      join(dir, 'restauth.json'),
      JSON.stringify({
        store: { type: 'postgres', url: `postgres://app:${PASSWORD}@db.internal:99999/auth` },
      }),
    );
    const result = await runCli(dir, ['config'], { RESTAUTH_LOG_LEVEL: 'warn' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^store\.url +"postgres:\/\/app:\[redacted\]@db\.internal:99999\/auth"/mu);
    printedOnce(result.stdout + result.stderr, 'store.url');
  });

  it('restauth config prints a database URL without the passwords in its query (pg connects with them)', async () => {
    const dir = await cliTempDir();
    const url = `postgres://app@db.internal/auth?password=${PASSWORD}&sslpassword=${PASSWORD}&sslmode=require`;
    const result = await runCli(dir, ['config'], { DATABASE_URL: url, RESTAUTH_LOG_LEVEL: 'warn' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^store\.url +"postgres:\/\/app@db\.internal\/auth\?password=\[redacted\]&sslpassword=\[redacted\]&sslmode=require"/mu,
    );
    printedOnce(result.stdout + result.stderr, 'store.url in the environment');
  });

  it('a cors origin refused for its credentials is named without them', async () => {
    const dir = await cliTempDir();
    await writeFile(
      join(dir, 'restauth.json'),
      JSON.stringify({ cors: [`https://app:${PASSWORD}@app.example.com`] }),
    );
    const result = await runCli(dir, ['config']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /cors\[0\] must be an origin/u);
    printedOnce(result.stdout + result.stderr, 'cors');
  });
});
