import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliTempDir, runCli } from '../support/run-cli.js';

const SECRET = 'a-private-secret-for-the-config-printout-0123456789';
const SMTP_PASSWORD = 'smtp-password-never-printed';
const DB_PASSWORD = 'db-password-never-printed';

interface Printed {
  [key: string]: { value: unknown; source: string };
}

test('restauth config --json: every value with its source (default, file, environment, flag), secrets redacted', async () => {
  const dir = await cliTempDir();
  const file = join(dir, 'restauth.json');
  await writeFile(
    file,
    JSON.stringify({
      jwt: { secret: SECRET, accessTokenTtl: '10m' },
      siteUrl: 'https://app.example.com',
      publicUrl: 'https://auth.example.com',
      email: { host: 'localhost', port: 2525, auth: { user: 'mailer', pass: SMTP_PASSWORD } },
      port: 3100,
    }),
  );
  const result = await runCli(
    dir,
    [
      'config',
      '--json',
      '--host',
      '0.0.0.0',
      '--connection',
      `postgres://auth:${DB_PASSWORD}@db.internal/auth`,
    ],
    { RESTAUTH_PORT: '4000', RESTAUTH_LOG_LEVEL: 'warn' },
  );
  assert.equal(result.code, 0, result.stderr);
  for (const secret of [SECRET, SMTP_PASSWORD, DB_PASSWORD]) {
    assert.equal(result.stdout.includes(secret), false, `${secret} is not printed`);
    assert.equal(result.stderr.includes(secret), false, `${secret} is not printed`);
  }
  const printed = JSON.parse(result.stdout) as Printed;
  assert.deepEqual(printed['jwt.secret'], { value: '[redacted]', source: `file ${file}` });
  assert.deepEqual(printed['jwt.accessTokenTtl'], { value: 600, source: `file ${file}` });
  assert.deepEqual(printed['email.auth.pass'], { value: '[redacted]', source: `file ${file}` });
  assert.deepEqual(printed['email.auth.user'], { value: 'mailer', source: `file ${file}` });
  // The environment wins over the file, a flag over both.
  assert.deepEqual(printed['port'], { value: 4000, source: 'environment RESTAUTH_PORT' });
  assert.deepEqual(printed['logLevel'], { value: 'warn', source: 'environment RESTAUTH_LOG_LEVEL' });
  assert.deepEqual(printed['host'], { value: '0.0.0.0', source: 'flag --host' });
  assert.deepEqual(printed['store.url'], {
    value: 'postgres://auth:[redacted]@db.internal/auth',
    source: 'flag --connection',
  });
  assert.deepEqual(printed['store.schema'], { value: 'auth', source: 'default' });
  assert.deepEqual(printed['passwords.algorithm'], { value: 'argon2id', source: 'default' });
  assert.deepEqual(printed['configFile'], { value: file, source: 'found in the working directory' });
  // Values the loader derives are not settings.
  assert.equal(printed['jwt.publicDefaultSecret'], undefined);
});

test('restauth config: aligned text, one line per value; a DATABASE_URL names itself and drops the file store', async () => {
  const dir = await cliTempDir();
  await writeFile(join(dir, 'config.json'), JSON.stringify({ port: 3001, auth: { jwtSecret: SECRET } }));
  const result = await runCli(dir, ['config'], { DATABASE_URL: `postgres://u:${DB_PASSWORD}@localhost/x` });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.includes(DB_PASSWORD), false);
  const lines = result.stdout.trimEnd().split('\n');
  const line = (key: string) => lines.find((candidate) => candidate.startsWith(`${key} `));
  assert.match(line('port') ?? '', /^port +3001 +file .*config\.json$/);
  assert.match(line('jwt.secret') ?? '', /^jwt\.secret +"\[redacted\]" +file .*config\.json$/);
  assert.match(line('store.type') ?? '', /^store\.type +"postgres" +environment DATABASE_URL$/);
  assert.match(
    line('store.url') ?? '',
    /^store\.url +"postgres:\/\/u:\[redacted\]@localhost\/x" +environment DATABASE_URL$/,
  );
  assert.equal(line('store.dataFile'), undefined);
});
