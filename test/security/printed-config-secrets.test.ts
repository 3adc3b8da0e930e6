import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeConfig, formatSettings } from '../../src/config/describe.js';
import { loadConfigWithSources } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/setup-policy.js';
import { cliTempDir, runCli } from '../support/run-cli.js';

const PASSWORD = 'url-password-0123456789';

/**
 * What restauth prints about its configuration goes to the terminal and the container's log: the
 * message of a setting it refuses at start, and `restauth config`'s printout. A database or SMTP
 * URL the parser refuses is most often refused for its password (an unescaped `/`, `#` or `@`, a
 * port typed wrong next to it); pg connects with a password given in the URL's query; a secret
 * setting may be refused for its type (a list, a number, `jwt` written as the secret itself);
 * nodemailer's options hold a TLS client key. Each must be named, its secret never printed. The
 * real command runs twice (a refusal and a printout); the other cases load the configuration as
 * the command does and print what it would.
 */
describe('restauth prints no secret setting: refused URLs, wrong types, query passwords, TLS keys', () => {
  const hidden = (output: string, what: string) => {
    assert.doesNotMatch(output, new RegExp(PASSWORD), what);
    assert.match(output, /\[redacted\]/u, what);
  };

  /** `restauth config`'s output, in process: the printout, or the message the command stops with. */
  const printed = async (config: unknown, env: NodeJS.ProcessEnv = {}): Promise<string> => {
    const dir = await cliTempDir();
    if (config !== undefined) await writeFile(join(dir, 'restauth.json'), JSON.stringify(config));
    try {
      const {
        config: loaded,
        sources,
        problems,
      } = await loadConfigWithSources({
        cwd: dir,
        env,
        setupPolicy: 'report',
        warn: () => {},
      });
      const refusals = problems.map((problem) => `restauth: refused: ${formatProblem(problem)}`);
      return [formatSettings(describeConfig(loaded, sources)), ...refusals].join('\n');
    } catch (error) {
      return `restauth: ${(error as Error).message}`;
    }
  };

  it('the real command: a refused DATABASE_URL, and a printout of URLs and TLS options', async () => {
    const dir = await cliTempDir();
    const refused = await runCli(dir, ['config'], {
      DATABASE_URL: `postgres://app:${PASSWORD}@db.internal:99999/auth`,
    });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /DATABASE_URL must be a URL \(postgres: or postgresql:\) \(got "postgres:\/\/app:\[redacted\]@db\.internal:99999\/auth"\)/u,
    );
    hidden(refused.stdout + refused.stderr, 'DATABASE_URL');

    await writeFile(
      join(dir, 'restauth.json'),
      JSON.stringify({
        store: {
          type: 'postgres',
          url: `postgres://app:${PASSWORD}@db.internal:99999/auth?sslpassword=${PASSWORD}`,
        },
        email: { host: 'localhost', port: 465, secure: true, tls: { key: PASSWORD, passphrase: PASSWORD } },
      }),
    );
    const shown = await runCli(dir, ['config'], { RESTAUTH_LOG_LEVEL: 'warn' });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      /^store\.url +"postgres:\/\/app:\[redacted\]@db\.internal:99999\/auth\?sslpassword=\[redacted\]"/mu,
    );
    assert.match(shown.stdout, /^email\.tls\.key +"\[redacted\]"/mu);
    assert.match(shown.stdout, /^email\.tls\.passphrase +"\[redacted\]"/mu);
    hidden(shown.stdout + shown.stderr, 'printout');
  });

  it('environment URLs that do not parse or have a wrong scheme', async () => {
    const variables: Array<[string, string]> = [
      ['DATABASE_URL', `postgres://app:${PASSWORD}/with-slash@db.internal/auth`],
      ['DATABASE_URL', `mysql://app:${PASSWORD}@db.internal/auth`],
      ['RESTAUTH_SMTP_URL', `smtp://mailer:${PASSWORD}@mail.internal:99999`],
      ['RESTAUTH_SMTP_URL', `https://mailer:${PASSWORD}@mail.internal`],
    ];
    for (const [name, value] of variables) {
      const output = await printed(undefined, { [name]: value });
      assert.match(output, new RegExp(`${name} must be a URL`), value);
      hidden(output, value);
    }
  });

  it("a valid database URL's query passwords (pg connects with them)", async () => {
    const url = `postgres://app@db.internal/auth?password=${PASSWORD}&sslpassword=${PASSWORD}&sslmode=require`;
    const output = await printed(undefined, { DATABASE_URL: url });
    assert.match(
      output,
      /^store\.url +"postgres:\/\/app@db\.internal\/auth\?password=\[redacted\]&sslpassword=\[redacted\]&sslmode=require"/mu,
    );
    hidden(output, 'query');
  });

  it('a secret setting of the wrong type, and URLs refused with their credentials (cors, siteUrl)', async () => {
    const files: Array<[unknown, RegExp]> = [
      [{ jwt: { secret: [PASSWORD] } }, /jwt\.secret must be a string or null \(got \[redacted\]\)/u],
      // jwt written as the secret itself.
      [{ jwt: PASSWORD }, /jwt must be an object \(got \[redacted\]\)/u],
      [{ cors: [`https://app:${PASSWORD}@app.example.com`] }, /cors\[0\] must be an origin/u],
      // A staging site behind basic authentication: refused as cleartext, or as no web URL.
      [
        { siteUrl: `http://staging:${PASSWORD}@staging.example.com` },
        /siteUrl .*is "http:\/\/staging:\[redacted\]@/u,
      ],
      [
        { siteUrl: `ftp://staging:${PASSWORD}@staging.example.com` },
        /siteUrl must be an http:\/\/ or https:\/\/ URL/u,
      ],
    ];
    for (const [config, message] of files) {
      const output = await printed(config);
      assert.match(output, message);
      hidden(output, JSON.stringify(config));
    }
  });
  it('redirect allow-list entries and globs refused with their credentials', async () => {
    const files: Array<[unknown, RegExp]> = [
      [{ redirectAllowList: [`ftp://u:${PASSWORD}@x`] }, /redirectAllowList\[0\] must be an http/u],
      [{ redirectAllowList: [`https://u:${PASSWORD}@app.example.com*`] }, /a prefix must name a whole host/u],
      [{ redirectAllowList: [`https://u:${PASSWORD}@App.example.com/*`] }, /which no redirect_to matches/u],
      [{ redirectAllowList: [`http://u:${PASSWORD}@app.example.com/cb`] }, /would travel in clear/u],
      [{ redirectAllowList: [`https://u:${PASSWORD}@10.1.2.3/cb`] }, /is an IP address other than loopback/u],
      [{ redirectAllowGlobs: [`http://u:${PASSWORD}@app.example.com/**`] }, /would travel in clear/u],
    ];
    for (const [config, message] of files) {
      const output = await printed(config);
      assert.match(output, message, output);
      hidden(output, JSON.stringify(config));
    }
  });

  it('email.auth written as a string (nodemailer wants { user, pass }) is refused, not printed', async () => {
    const output = await printed({ email: { host: 'mail.example.com', auth: `mailer:${PASSWORD}` } });
    assert.match(output, /email\.auth must be an object/u);
    assert.doesNotMatch(output, new RegExp(PASSWORD));
  });
});
