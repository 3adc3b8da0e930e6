import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { generateKey } from '../../src/cli/keys.js';
import { rotateKeys } from '../../src/cli/rotate-keys.js';
import type { KeySpec } from '../../src/core/signing-keys.js';
import { TokenService } from '../../src/core/tokens.js';
import { createTestApp } from '../support/app.js';
import { gotrueClient, listen } from '../support/gotrue.js';
import { runCli } from '../support/run-cli.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * `restauth keys rotate` on a restauth.json, then the server restarted on it
 * as an operator would: new tokens carry the new key, tokens of the old one
 * keep verifying through the grace period and are refused after it.
 */
const PASSWORD = 'correct horse battery';

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-rotate-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('keys rotate: a new key signs, the old one verifies through the grace period only', async () => {
  const dir = await folder();
  const { configEntry } = await generateKey('ES256', 'first');
  // Tokens live an hour, the old key ten minutes more: after that its tokens die before they expire.
  const settings = {
    jwt: { keys: [configEntry], accessTokenTtl: 3600 },
    passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
  };
  const file = join(dir, 'restauth.json');
  await writeFile(file, `// restauth, production\n${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });

  // Before: a user signs in; the token names the first key.
  let t = await createTestAppOn(dir);
  let url = await listen(t);
  await t.services.admin.createUser(LOCAL_CALL, {
    email: 'ann@acme.test',
    password: PASSWORD,
    emailConfirm: true,
  });
  const before = await gotrueClient(url).client.signInWithPassword({
    email: 'ann@acme.test',
    password: PASSWORD,
  });
  assert.equal(before.error, null);
  const oldToken = before.data.session!.access_token;
  assert.equal(decodeProtectedHeader(oldToken).kid, 'first');
  await t.close();

  const rotated = await runCli(dir, ['keys', 'rotate', '--kid', 'second', '--grace', '10m']);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /^new signing key second \(ES256\) written to .*restauth\.json$/m);
  assert.match(rotated.stdout, /^key first signs no more and verifies until \d{4}-\d\d-\d\dT/m);
  const jwks = JSON.parse(rotated.stdout.trimEnd().split('\n').at(-1)!) as {
    keys: Array<{ kid: string; d?: string }>;
  };
  assert.deepEqual(jwks.keys.map((key) => key.kid).sort(), ['first', 'second']);
  assert.ok(
    jwks.keys.every((key) => key.d === undefined),
    'the JWKS is public',
  );

  const written = await readFile(file, 'utf8');
  assert.ok(written.startsWith('// restauth, production\n'), 'comments are kept');
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'the mode is kept');
  const parsed = JSON.parse(written.replace(/^\/\/.*\n/, '')) as {
    jwt: { signingKeyId: string; keys: Array<{ kid: string; privateKey?: unknown; retireAt?: string }> };
  };
  assert.equal(parsed.jwt.signingKeyId, 'second');
  const first = parsed.jwt.keys.find((key) => key.kid === 'first')!;
  assert.equal(first.privateKey, undefined, 'the old private key is gone from the file');
  const retireAt = Date.parse(first.retireAt ?? '');
  assert.ok(Math.abs(retireAt - (Date.now() + 600_000)) < 5 * 60_000, first.retireAt);

  // Restarted on the rotated file.
  t = await createTestAppOn(dir);
  url = await listen(t);
  try {
    const after = await gotrueClient(url).client.signInWithPassword({
      email: 'ann@acme.test',
      password: PASSWORD,
    });
    assert.equal(after.error, null);
    const newToken = after.data.session!.access_token;
    assert.equal(decodeProtectedHeader(newToken).kid, 'second');
    const { client } = gotrueClient(url);
    assert.equal(
      (await client.getUser(oldToken)).error,
      null,
      'the old key verifies during the grace period',
    );
    assert.equal((await client.getUser(newToken)).error, null);

    // Past the grace period (the server's clock moved 11 minutes), within the old token's own hour.
    t.advance(11 * 60_000);
    const refused = await client.getUser(oldToken);
    assert.notEqual(refused.error, null, 'a retired key verifies nothing');
    assert.equal((await client.getUser(newToken)).error, null);
  } finally {
    await t.close();
  }
});

test('keys rotate removes keys whose retirement has passed, and refuses a setup without jwt.keys', async () => {
  const dir = await folder();
  const old = await generateKey('EdDSA', 'old');
  const current = await generateKey('EdDSA', 'current');
  const retired = {
    kid: 'old',
    alg: 'EdDSA',
    publicKey: old.jwks.keys[0],
    retireAt: '2020-01-01T00:00:00.000Z',
  };
  await writeFile(
    join(dir, 'restauth.json'),
    JSON.stringify({ jwt: { keys: [retired, current.configEntry] } }),
  );
  const result = await runCli(dir, ['keys', 'rotate', '--grace', '1h']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^key old was retired and is removed$/m);
  const keys = (
    JSON.parse(await readFile(join(dir, 'restauth.json'), 'utf8')) as {
      jwt: { keys: Array<{ kid: string; alg: string }> };
    }
  ).jwt.keys;
  assert.deepEqual(keys.map((key) => key.kid).slice(0, 1), ['current']);
  assert.equal(keys.length, 2);
  assert.ok(
    keys.every((key) => key.alg === 'EdDSA'),
    'the new key has the algorithm of the one it replaces',
  );

  const secretOnly = await folder();
  await writeFile(
    join(secretOnly, 'restauth.json'),
    JSON.stringify({ jwt: { secret: 'a-private-secret-for-the-rotation-tests-0123456789' } }),
  );
  const refused = await runCli(secretOnly, ['keys', 'rotate']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /no signing key in jwt\.keys \(tokens are signed with jwt\.secret\)/);
});

const T0 = new Date('2026-06-01T12:00:00.000Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);
const claims = { sub: 'u1', role: 'authenticated', session_id: 's1', token_version: 0 };

async function keysIn(file: string): Promise<KeySpec[]> {
  return (JSON.parse(await readFile(file, 'utf8')) as { jwt: { keys: KeySpec[] } }).jwt.keys;
}

function tokensOf(keys: KeySpec[], signingKeyId: string | null = null): TokenService {
  const settings = { secret: null, accessTokenTtl: 3600, clockTolerance: 0, issuer: null, audience: null };
  return new TokenService({ ...settings, keys: keys.map((key) => ({ ...key })), signingKeyId });
}

test('keys rotate dates the rotation: a server clock set back behind it takes the old key as retired', async () => {
  const dir = await folder();
  const { configEntry } = await generateKey('ES256', 'first');
  const file = join(dir, 'restauth.json');
  await writeFile(file, JSON.stringify({ jwt: { keys: [configEntry], accessTokenTtl: 3600 } }));
  // An hour's token of the first key, signed ten minutes before the rotation.
  const oldToken = (await tokensOf([configEntry as KeySpec]).sign(claims, minutes(-10))).token;

  await rotateKeys({
    configFile: 'restauth.json',
    kid: 'second',
    graceSeconds: 600,
    now: T0,
    cwd: dir,
    env: {},
  });
  const rotated = await keysIn(file);
  const first = rotated.find((key) => key.kid === 'first')!;
  assert.equal(first.retiredAt, T0.toISOString(), 'the rotation is dated');
  assert.equal(first.retireAt, minutes(10).toISOString());

  // On a server whose clock is right, through the grace period.
  const server = tokensOf(rotated, 'second');
  assert.equal((await server.verify(oldToken, minutes(5))).sub, 'u1');
  // Its clock then set back ten minutes (an NTP step): retireAt alone would keep the key verifying
  // for ten minutes more than its grace; the rotation dated ahead of now retires it.
  await assert.rejects(server.verify(oldToken, minutes(-5)), { reason: 'retired key' });
  const restarted = tokensOf(rotated, 'second');
  await assert.rejects(restarted.verify(oldToken, minutes(-5)), { reason: 'retired key' });
  assert.deepEqual(
    (await restarted.jwks(minutes(-5))).keys.map((key) => key.kid),
    ['second'],
    'nor is it published',
  );
  // Instances' clocks differing by less than the allowance keep it.
  assert.equal((await restarted.verify(oldToken, minutes(-0.5))).sub, 'u1');
  assert.deepEqual((await restarted.jwks(minutes(-0.5))).keys.map((key) => key.kid).sort(), [
    'first',
    'second',
  ]);
});

test('keys rotate refuses on a clock behind the rotation before, and a grace of nothing', async () => {
  const dir = await folder();
  const older = await generateKey('EdDSA', 'older');
  const old = await generateKey('EdDSA', 'old');
  const current = await generateKey('EdDSA', 'current');
  const file = join(dir, 'restauth.json');
  const written = JSON.stringify({
    jwt: {
      keys: [
        // At the rotation below (4.5), retired half a minute before: servers a little behind still take it.
        { kid: 'older', alg: 'EdDSA', publicKey: older.jwks.keys[0], retireAt: minutes(4).toISOString() },
        {
          kid: 'old',
          alg: 'EdDSA',
          publicKey: old.jwks.keys[0],
          retiredAt: minutes(5).toISOString(),
          retireAt: minutes(65).toISOString(),
        },
        current.configEntry,
      ],
    },
  });
  await writeFile(file, written);

  // The last rotation is dated five minutes ahead of this machine: its clock is behind, and the retireAt
  // it would write could already be past on the servers.
  await assert.rejects(
    rotateKeys({ configFile: 'restauth.json', graceSeconds: 120, now: T0, cwd: dir, env: {} }),
    {
      name: 'CliError',
      message: /^jwt key "old" was retired at 2026-06-01T12:05:00\.000Z, ahead of this machine's clock/,
    },
  );
  await assert.rejects(
    rotateKeys({ configFile: 'restauth.json', graceSeconds: 0, now: minutes(5), cwd: dir, env: {} }),
    {
      name: 'CliError',
      message: /^--grace must be longer than 0/,
    },
  );
  assert.equal(await readFile(file, 'utf8'), written, 'nothing is written');

  // Within the clock allowance it rotates; the key retired half a minute before is kept.
  const result = await rotateKeys({
    configFile: 'restauth.json',
    kid: 'next',
    now: minutes(4.5),
    cwd: dir,
    env: {},
  });
  assert.deepEqual(result.removed, []);
  assert.deepEqual(
    (await keysIn(file)).map((key) => key.kid),
    ['older', 'old', 'current', 'next'],
  );
  // Two minutes later it is past by more than instances' clocks differ: removed.
  const later = await rotateKeys({
    configFile: 'restauth.json',
    kid: 'last',
    now: minutes(6.5),
    cwd: dir,
    env: {},
  });
  assert.deepEqual(later.removed, ['older']);
});

async function createTestAppOn(dir: string) {
  return createTestApp({ format: 'restauth', dir, keepConfigFile: true });
}

test("keys rotate never overwrites an edit saved while it ran, and removes a dead rotation's temp file", async () => {
  const dir = await folder();
  const { configEntry } = await generateKey('EdDSA', 'current');
  const file = join(dir, 'restauth.json');
  await writeFile(file, JSON.stringify({ jwt: { keys: [configEntry] } }), { mode: 0o600 });
  // A rotation that died before its rename left the private key it made.
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
  const leftover = join(dir, `.restauth.json.${deadPid}.tmp`);
  await writeFile(leftover, 'a private key', { mode: 0o600 });

  // The working directory's .env is a pipe: loading the configuration waits on it, and the edit below
  // lands while the rotation runs, without a timing.
  const dotenv = join(dir, '.env');
  execFileSync('mkfifo', [dotenv]);
  const rotation = rotateKeys({ configFile: 'restauth.json', kid: 'next', now: T0, cwd: dir, env: {} });
  // A pipe opens for writing once its reader has opened it: the rotation has then read the file's
  // identity, and the edit comes after.
  const pipe = await open(dotenv, 'w');
  const edited = JSON.stringify({ jwt: { keys: [configEntry], accessTokenTtl: 600 } });
  await writeFile(file, edited);
  await pipe.writeFile('UNUSED=1\n');
  await pipe.close();
  await assert.rejects(rotation, {
    name: 'CliError',
    message:
      /^restauth\.json changed while the rotation ran \(an edit, or another rotation\): nothing was written/,
  });
  assert.equal(await readFile(file, 'utf8'), edited, "the operator's edit stands");
  assert.deepEqual(await keysIn(file), [configEntry]);

  // Run again on the edited file, it rotates and keeps the edit; the dead rotation's file is gone.
  await rm(dotenv);
  await rotateKeys({ configFile: 'restauth.json', kid: 'next', now: T0, cwd: dir, env: {} });
  assert.deepEqual(
    (await keysIn(file)).map((key) => key.kid),
    ['current', 'next'],
  );
  assert.equal(JSON.parse(await readFile(file, 'utf8')).jwt.accessTokenTtl, 600);
  assert.equal(existsSync(leftover), false);
  assert.deepEqual(
    (await readdir(dir)).filter((name) => name.startsWith('.restauth.json.')),
    [],
    'no temp file is left',
  );
});
