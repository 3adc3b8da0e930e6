import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { tlsEnvironmentProblems } from '../../src/config/setup-policy.js';
import { cliTempDir, runCli } from '../support/run-cli.js';

const SECRET = 'a-private-secret-for-the-setup-policy-0123456789';

/** loadConfig of a restauth.json holding `settings`, in an environment of `env` only. */
async function load(settings: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-policy-'));
  after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'restauth.json'), JSON.stringify({ jwt: { secret: SECRET }, ...settings }), {
    mode: 0o600,
  });
  const warnings: string[] = [];
  const config = await loadConfig({ cwd: dir, env, warn: (message) => warnings.push(message) });
  return { config, warnings };
}

function refusedNaming(...parts: RegExp[]) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.match(error.message, /^weak setup, refusing to start:/);
    for (const part of parts) assert.match(error.message, part);
    assert.match(error.message, /RESTAUTH_DEV=1/);
    return true;
  };
}

const WEAK: Array<[name: string, settings: Record<string, unknown>, key: RegExp]> = [
  [
    'SMTP without TLS to a remote host',
    { email: { host: 'smtp.example.com', port: 587 } },
    /email\.host \(file .*restauth\.json\) names the mail server smtp\.example\.com, reached without TLS/,
  ],
  [
    'SMTP url without TLS',
    { email: { url: 'smtp://user:pw@mail.example.com:25' } },
    /email\.url .* names the mail server mail\.example\.com/,
  ],
  [
    'STARTTLS required but ignored',
    { email: { host: 'smtp.example.com', requireTLS: true, ignoreTLS: true } },
    /email\.host/,
  ],
  [
    'SMTP certificates not checked',
    { email: { host: 'smtp.example.com', secure: true, tls: { rejectUnauthorized: false } } },
    /email\.tls\.rejectUnauthorized .* is false/,
  ],
  // An email.url's query is nodemailer's options too, read by its rules: each of these turned TLS off
  // (or kept it off) while the start went on without a word.
  [
    '?secure=true after smtp://, which nodemailer ignores (the scheme decides)',
    { email: { url: 'smtp://user:pw@mail.example.com:587?secure=true' } },
    /email\.url .* names the mail server mail\.example\.com, reached without TLS \(neither secure nor requireTLS/,
  ],
  [
    '"secure": true beside an smtp:// url, whose scheme wins',
    { email: { url: 'smtp://user:pw@mail.example.com:587', secure: true } },
    /email\.url .* reached without TLS/,
  ],
  [
    '?secured=true: "already in TLS" over the plain socket restauth opens',
    { email: { url: 'smtps://user:pw@mail.example.com?secured=true' } },
    /email\.url .* reached without TLS \(secured is set/,
  ],
  [
    '?ignoreTLS=1 (a number is on, as nodemailer reads it)',
    { email: { url: 'smtp://user:pw@mail.example.com:587?requireTLS=true&ignoreTLS=1' } },
    /email\.url .* reached without TLS \(ignoreTLS is set/,
  ],
  [
    '?opportunisticTLS=true: a refused STARTTLS goes on in clear',
    { email: { url: 'smtp://user:pw@mail.example.com:587?requireTLS=true&opportunisticTLS=true' } },
    /email\.url .* reached without TLS \(opportunisticTLS is set/,
  ],
  [
    'opportunisticTLS beside requireTLS in the object',
    { email: { host: 'smtp.example.com', requireTLS: true, opportunisticTLS: true } },
    /email\.host .* reached without TLS \(opportunisticTLS/,
  ],
  [
    '?tls.rejectUnauthorized=0 (0 turns the check off, as false does)',
    { email: { url: 'smtps://user:pw@mail.example.com?tls.rejectUnauthorized=0' } },
    /email\.url .* sets tls\.rejectUnauthorized to 0, which turns the check off/,
  ],
  [
    'an empty ?tls.rejectUnauthorized= (nodemailer reads 0)',
    { email: { url: 'smtps://user:pw@mail.example.com?tls.rejectUnauthorized=' } },
    /email\.url .* sets tls\.rejectUnauthorized to 0/,
  ],
  [
    'tls.rejectUnauthorized null in the object',
    { email: { host: 'smtp.example.com', secure: true, tls: { rejectUnauthorized: null } } },
    /email\.tls\.rejectUnauthorized .* is null, which turns the check off/,
  ],
  [
    "a well-known service's certificates not checked",
    { email: { service: 'gmail', tls: { rejectUnauthorized: false } } },
    /email\.tls\.rejectUnauthorized .* is false/,
  ],
  [
    'a mail TLS floor below 1.2 (tls.minVersion)',
    { email: { host: 'smtp.example.com', secure: true, tls: { minVersion: 'TLSv1' } } },
    /email\.tls\.minVersion .* sets minVersion TLSv1 admits a TLS version below 1\.2/,
  ],
  [
    'a mail TLS floor below 1.2 in the url',
    { email: { url: 'smtps://user:pw@mail.example.com?tls.minVersion=TLSv1.1' } },
    /email\.url .* sets minVersion TLSv1\.1 admits/,
  ],
  [
    'a mail connection fixed to TLS 1.0 (tls.secureProtocol)',
    {
      email: {
        host: 'smtp.example.com',
        port: 587,
        requireTLS: true,
        tls: { secureProtocol: 'TLSv1_method' },
      },
    },
    /email\.tls\.secureProtocol .* sets secureProtocol TLSv1_method speaks a TLS version below 1\.2 only/,
  ],
  [
    "an http:// mail proxy's password, sent in clear",
    { email: { host: 'smtp.example.com', secure: true, proxy: 'http://:pw@proxy.example.com:3128' } },
    /email\.proxy .* names the mail proxy proxy\.example\.com over http:\/\/ with a password/,
  ],
  [
    "an http:// mail proxy's password in the url's query",
    {
      email: {
        url: `smtps://u:pw@mail.example.com?proxy=${encodeURIComponent('http://egress:pw@proxy.example.com')}`,
      },
    },
    /email\.url .* names the mail proxy proxy\.example\.com over http:\/\//,
  ],
  [
    "SMTP in clear to the proxy's localhost, through a proxy elsewhere",
    { email: { host: 'localhost', port: 25, proxy: 'http://proxy.example.com:3128' } },
    /email\.host .* names the mail server localhost, reached without TLS/,
  ],
  [
    'siteUrl over http',
    { siteUrl: 'http://app.example.com' },
    /siteUrl \(file .*\) is "http:\/\/app\.example\.com"/,
  ],
  [
    'publicUrl over http',
    { publicUrl: 'http://auth.example.com' },
    /publicUrl \(file .*\) is "http:\/\/auth\.example\.com"/,
  ],
  [
    'a redirect to http',
    { redirectAllowList: ['https://app.example.com/', 'http://app.example.com/*'] },
    /redirectAllowList\[1\]/,
  ],
  [
    'a redirect prefix open to other hosts',
    { redirectAllowList: ['https://app.example.com*'] },
    /redirectAllowList\[0\] .* must name a whole host/,
  ],
  [
    'a redirect prefix no target can match (targets are compared as the URL parser writes them)',
    { redirectAllowList: ['https://app.example.com/ok/*', 'https://App.Example.com:443/auth/*'] },
    /redirectAllowList\[1\] .* is "https:\/\/App\.Example\.com:443\/auth\/\*", which no redirect_to matches: .*"https:\/\/app\.example\.com\/auth\/\*"/,
  ],
  [
    "GoTrue's /** written in restauth's own list",
    { redirectAllowList: ['https://app.example.com/**'] },
    /redirectAllowList\[0\] .* which no redirect_to matches: .*"https:\/\/app\.example\.com\/\*"/,
  ],
  [
    'a redirect to an IP address, which GoTrue and restauth refuse whatever the list says',
    { redirectAllowList: ['https://app.example.com/', 'https://10.0.0.5/cb'] },
    /redirectAllowList\[1\] .* is "https:\/\/10\.0\.0\.5\/cb", which no redirect_to matches: its host 10\.0\.0\.5/,
  ],
  [
    'a redirect to an IPv4-mapped IPv6 address other than loopback',
    { redirectAllowList: ['https://[::ffff:10.0.0.5]/cb'] },
    /redirectAllowList\[0\] .* its host \[::ffff:a00:5\] is an IP address other than loopback/,
  ],
  [
    "a redirect to an IPv4-compatible IPv6 spelling of 127.0.0.1 (not loopback to Go's IsLoopback)",
    { redirectAllowList: ['https://[::127.0.0.1]/cb'] },
    /redirectAllowList\[0\] .* its host \[::7f00:1\] is an IP address other than loopback/,
  ],
  [
    'a glob naming an IP address in decimal form',
    { redirectAllowGlobs: ['https://167772165/**'] },
    /redirectAllowGlobs\[0\] .* which no redirect_to matches: its host 10\.0\.0\.5/,
  ],
  [
    'a glob whose host ends in a number, so names IP addresses only',
    { redirectAllowGlobs: ['https://127.0.0.1:*/**', 'https://10.*.0.5/**'] },
    /redirectAllowGlobs\[1\] .* is "https:\/\/10\.\*\.0\.5\/\*\*", which no redirect_to matches/,
  ],
  [
    'mail links to http://0.0.0.0',
    { host: '0.0.0.0', email: { host: 'localhost', port: 2525 } },
    /publicUrl is not set while mails are sent and restauth listens on 0\.0\.0\.0/,
  ],
  [
    'every address a trusted proxy',
    { trustProxy: ['10.0.0.1', '0.0.0.0/0'] },
    /trustProxy\[1\] .* is 0\.0\.0\.0\/0: every client/,
  ],
];

for (const [name, settings, key] of WEAK) {
  test(`weak setup refused outside development mode, naming the key: ${name}`, async () => {
    await assert.rejects(load(settings), refusedNaming(key));
    // Development mode: a warning naming the same key, and the start goes on.
    const { warnings } = await load(settings, { RESTAUTH_DEV: '1' });
    assert.ok(
      warnings.some((warning) => key.test(warning) && /development mode is on/.test(warning)),
      warnings.join('\n'),
    );
  });
}

test('a sound setup starts without a word: TLS to remote mail, https and local http addresses', async () => {
  for (const settings of [
    { email: { host: 'smtp.example.com', port: 465, secure: true } },
    { email: { host: 'smtp.example.com', port: 587, requireTLS: true } },
    { email: { url: 'smtps://user:pw@mail.example.com' } },
    { email: { url: 'smtp://user:pw@mail.example.com:587?requireTLS=true' } },
    { email: { url: 'smtps://user:pw@mail.example.com?tls.rejectUnauthorized=true&pool=true' } },
    { email: { host: 'smtp.example.com', port: 465 } },
    { email: { host: 'smtp.example.com', secure: true, proxy: 'https://egress:pw@proxy.example.com' } },
    { email: { host: 'smtp.example.com', secure: true, proxy: 'http://proxy.example.com:3128' } },
    { email: { host: 'localhost', port: 25, proxy: 'http://egress:pw@127.0.0.1:3128' } },
    { email: { url: 'smtps://user:pw@mail.example.com', tls: { ca: 'a private CA' } } },
    { email: { host: 'smtp.example.com', secure: true, tls: { minVersion: 'TLSv1.3' } } },
    // To this machine, nothing travels on a network.
    { email: { host: 'localhost', port: 2525, tls: { minVersion: 'TLSv1' } } },
    { email: { host: '127.0.0.1', port: 2525 } },
    { email: { service: 'gmail' } },
    { siteUrl: 'http://localhost:5173', publicUrl: 'http://127.0.0.1:3000' },
    {
      siteUrl: 'https://app.example.com',
      publicUrl: 'https://auth.example.com',
      redirectAllowList: ['https://app.example.com/*', 'http://localhost:5173/*'],
    },
    // Loopback in its IPv4-mapped IPv6 spelling, as GoTrue (Go's IsLoopback) reads it.
    { redirectAllowList: ['http://[::ffff:7f00:1]:5173/*', 'http://[::ffff:127.0.0.1]:5173/cb'] },
    // A mobile app's deep links, as Supabase's Flutter and React Native guides list them: the scheme is
    // the app's own, so neither "in clear" nor "open to other hosts" applies.
    {
      redirectAllowList: [
        'io.supabase.flutterquickstart://login-callback/',
        'com.supabase://*',
        'exp://192.168.1.1:19000/--/*',
      ],
    },
    { host: '0.0.0.0', email: { host: 'localhost' }, publicUrl: 'https://auth.example.com' },
    { trustProxy: ['10.0.0.0/8', 'loopback'] },
  ]) {
    const { warnings } = await load(settings);
    assert.deepEqual(warnings, [], JSON.stringify(settings));
  }
});

test('a protection on by default that a setting turns off is warned of at the start, naming the key and its source', async () => {
  const { warnings } = await load({
    identities: { oauthBrowserBinding: false, implicitLinking: true },
    external: { google: { enabled: true, client_id: 'web.apps', secret: 's', skip_nonce_check: true } },
  });
  const expected: [string, RegExp][] = [
    ['identities.oauthBrowserBinding', /is false: .* \(login and link CSRF\)$/],
    ['identities.implicitLinking', /is true: .*a forwarded link address/],
    ['external.google.skip_nonce_check', /is true: an id_token without a nonce signs in/],
  ];
  assert.equal(warnings.length, expected.length, JSON.stringify(warnings));
  for (const [key, why] of expected) {
    const line = warnings.find((warning) => warning.startsWith(`${key} (file ${'/'}`));
    assert.ok(line, `${key} in ${JSON.stringify(warnings)}`);
    assert.match(line, /restauth\.json\) is /u);
    assert.match(line, why);
  }
  // Off where it does nothing (a provider not enabled), and a sane clock tolerance says nothing.
  const quiet = await load({
    external: { google: { skip_nonce_check: true } },
    jwt: { secret: SECRET, clockTolerance: 30 },
  });
  assert.deepEqual(quiet.warnings, []);
  const lenient = await load({ jwt: { secret: SECRET, clockTolerance: 86400 } });
  assert.equal(lenient.warnings.length, 1, JSON.stringify(lenient.warnings));
  assert.match(
    lenient.warnings[0]!,
    /^jwt\.clockTolerance \(file .*restauth\.json\) is 86400 s: an access token is accepted that long after it expired$/u,
  );
});

test('NODE_TLS_REJECT_UNAUTHORIZED=0, which turns every certificate check off, refuses the start', async () => {
  await assert.rejects(
    load({}, { NODE_TLS_REJECT_UNAUTHORIZED: '0' }),
    refusedNaming(
      /NODE_TLS_REJECT_UNAUTHORIZED \(environment\) is 0: Node checks no server's TLS certificate/,
    ),
  );
  const { warnings } = await load({}, { NODE_TLS_REJECT_UNAUTHORIZED: '0', RESTAUTH_DEV: '1' });
  assert.ok(
    warnings.some((line) => /^NODE_TLS_REJECT_UNAUTHORIZED .*development mode is on/u.test(line)),
    warnings.join('\n'),
  );
  // Node reads "0" only: any other value leaves the checks on.
  assert.deepEqual((await load({}, { NODE_TLS_REJECT_UNAUTHORIZED: '1' })).warnings, []);
});

test("nodemailer's debug log, which writes each mail's links and codes out, is warned of at the start", async () => {
  const inUrl = await load({}, { RESTAUTH_SMTP_URL: 'smtps://u:pw@mail.example.com?logger=true&debug=true' });
  assert.deepEqual(inUrl.warnings, [
    "email.url (environment RESTAUTH_SMTP_URL) turns on nodemailer's debug log with its logger: every mail " +
      'sent, its reset and sign-in links and one-time codes included, is written to standard output',
  ]);
  const inObject = await load({ email: { url: 'smtps://u:pw@mail.example.com', logger: true, debug: 1 } });
  assert.equal(inObject.warnings.length, 1, JSON.stringify(inObject.warnings));
  assert.match(
    inObject.warnings[0]!,
    /^email\.debug \(file .*restauth\.json\) turns on nodemailer's debug log/u,
  );
  // Either alone logs no mail: nodemailer's debug lines go nowhere without a logger.
  const debugOnly = await load({ email: { url: 'smtps://u:pw@mail.example.com?debug=true' } });
  assert.deepEqual(debugOnly.warnings, []);
});

test('RESTAUTH_RATE_LIMITS=off, or a guess limit of 0 in a file, is warned of at the start', async () => {
  const off = await load({}, { RESTAUTH_RATE_LIMITS: 'off' });
  assert.equal(off.config.rateLimits.passwordGuesses.max, 0);
  assert.deepEqual(off.warnings, [
    "rateLimits.passwordGuesses.max (environment RESTAUTH_RATE_LIMITS) is 0: one account's password can be " +
      'guessed without bound, from any number of addresses (no per-account limit on wrong passwords)',
    'rateLimits.verify.max (environment RESTAUTH_RATE_LIMITS) is 0: a client can try one-time codes ' +
      '(email and phone OTPs) without bound',
  ]);
  const file = await load({ rateLimits: { passwordGuesses: { max: 0 } } });
  assert.equal(file.warnings.length, 1, JSON.stringify(file.warnings));
  assert.match(file.warnings[0]!, /^rateLimits\.passwordGuesses\.max \(file .*restauth\.json\) is 0: /u);
  // The other families off (a proxy limits sign-ups) leave the guess limits, and say nothing.
  const proxied = await load({ rateLimits: { signUp: { max: 0 }, recovery: { max: 0 } } });
  assert.deepEqual(proxied.warnings, []);
});

test('URL settings that are not URLs stop the start naming the key, even in development mode', async () => {
  for (const [settings, message] of [
    [
      { siteUrl: 'app.example.com' },
      /siteUrl must be an http:\/\/ or https:\/\/ URL \(got "app\.example\.com"\)/,
    ],
    [{ publicUrl: 'javascript:alert(1)' }, /publicUrl must be an http/],
    [{ redirectAllowList: ['/welcome'] }, /redirectAllowList\[0\] must be an http/],
    // Every URL at all: never a setting anyone means.
    [{ redirectAllowList: ['https://app.example.com/', '*'] }, /redirectAllowList\[1\] must be an http/],
    [{ email: { url: 'mail.example.com' } }, /email\.url must be an smtp:\/\/ or smtps:\/\/ URL/],
    // WHATWG's parser takes it, nodemailer's (url.parse) throws: the start failed with a bare "Invalid URL".
    [{ email: { url: 'smtps://u:pw@xn--a.com' } }, /email\.url must be a URL nodemailer can read/],
    // nodemailer's SOCKS proxies need a module restauth does not ship: every mail would fail.
    [
      { email: { host: 'localhost', proxy: 'socks5://u:pw@proxy.example.com:1080' } },
      /email\.proxy .*no SOCKS client/,
    ],
    [
      { email: { url: `smtp://localhost?proxy=${encodeURIComponent('socks5://proxy.example.com')}` } },
      /\?proxy= in email\.url\) must be an http/,
    ],
    // Schemes that run code or show other content are no deep link, however written: the URL parser
    // lower-cases the scheme and drops tabs, so each of these is javascript: or data: to a browser.
    ...[
      'javascript:alert(1)//',
      'JAVASCRIPT://x/%0aalert(1)',
      'java\tscript://x/*',
      'data://text/html,x',
      'vbscript://x/',
      'file:///etc/*',
      'blob:https://app.example.com/x',
      'about://blank',
      // A deep link is written scheme://, as the app registers it; "myapp:*" would admit myapp:anything.
      'myapp:*',
    ].map(
      (entry) =>
        [
          { redirectAllowList: [entry] },
          /redirectAllowList\[0\] must be an http.*javascript:, data:/,
        ] as const,
    ),
  ] as const) {
    await assert.rejects(load(settings, { RESTAUTH_DEV: '1' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /:pw@/u, 'no password shown');
      return true;
    });
  }
});

test('restauth serve refuses a weak setup naming the key and where it was set; restauth config shows it and exits 1', async () => {
  const dir = await cliTempDir();
  await writeFile(join(dir, 'restauth.json'), JSON.stringify({ jwt: { secret: SECRET } }));
  const env = { RESTAUTH_SMTP_URL: 'smtp://mailer:pw@smtp.example.com:587', RESTAUTH_PORT: '0' };
  const serve = await runCli(dir, ['serve'], env);
  assert.equal(serve.code, 2, serve.stdout);
  assert.match(
    serve.stderr,
    /weak setup, refusing to start:\n {2}email\.url \(environment RESTAUTH_SMTP_URL\) names the mail server smtp\.example\.com, reached without TLS/,
  );
  assert.equal(serve.stderr.includes(':pw@'), false, 'the SMTP password is not printed');

  const config = await runCli(dir, ['config'], env);
  assert.equal(config.code, 1);
  assert.match(
    config.stdout,
    /^email\.url +"smtp:\/\/mailer:\[redacted\]@smtp\.example\.com:587" +environment RESTAUTH_SMTP_URL$/m,
  );
  assert.match(config.stderr, /refused: email\.url \(environment RESTAUTH_SMTP_URL\) names the mail server/);
  assert.match(config.stderr, /serve would refuse to start/);
});

test("node's TLS floor lowered below 1.2 (--tls-min-v1.0, often in NODE_OPTIONS) refuses the start", async () => {
  assert.deepEqual(tlsEnvironmentProblems({}, 'TLSv1.2'), []);
  assert.deepEqual(tlsEnvironmentProblems({}, 'TLSv1.3'), []);
  for (const floor of ['TLSv1', 'TLSv1.1']) {
    const [problem, ...more] = tlsEnvironmentProblems({}, floor);
    assert.equal(more.length, 0);
    assert.match(problem!.key, /--tls-min-v1\.x/u);
    assert.match(
      problem!.problem,
      new RegExp(`lowers Node's TLS floor to ${floor.replace('.', '\\.')} for every connection`, 'u'),
    );
  }
  // The real command, with the option where it is usually set.
  const dir = await cliTempDir();
  await writeFile(join(dir, 'restauth.json'), JSON.stringify({ jwt: { secret: SECRET } }));
  const config = await runCli(dir, ['config'], { NODE_OPTIONS: '--tls-min-v1.0' });
  assert.equal(config.code, 1, config.stderr);
  assert.match(
    config.stderr,
    /refused: node --tls-min-v1\.x .* lowers Node's TLS floor to TLSv1 for every connection/u,
  );
  const sound = await runCli(dir, ['config'], {});
  assert.equal(sound.code, 0, sound.stderr);
});

/** The start's warnings with a PostgreSQL store at `url`, in the process environment `env`. */
async function databaseWarningsOf(url: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const { warnings } = await load({ store: { type: 'postgres', url } }, env);
  return warnings;
}

test('a PostgreSQL connection to another host without TLS, or without its certificate checked, is warned of at the start', async () => {
  const cleartext =
    /^store\.url \(file .*restauth\.json\) names the database server db\.example\.com, reached without TLS/u;
  for (const [url, env] of [
    ['postgres://restauth:pw@db.example.com/app', {}],
    ['postgres://restauth:pw@db.example.com/app?sslmode=disable', { PGSSLMODE: 'verify-full' }],
    ['postgres://restauth:pw@db.example.com/app?ssl=false', {}],
    // What the URL leaves out, node-postgres reads from the environment.
    ['postgres://restauth:pw@db.example.com/app', { PGSSLMODE: 'disable' }],
  ] as const) {
    const warnings = await databaseWarningsOf(url, env);
    assert.equal(warnings.length, 1, `${url} ${JSON.stringify(warnings)}`);
    assert.match(warnings[0]!, cleartext);
    assert.match(warnings[0]!, /\?sslmode=verify-full/u);
    assert.doesNotMatch(warnings[0]!, /:pw@/u, 'no password shown');
  }
  const [fromEnvHost] = await databaseWarningsOf('postgres:///app', { PGHOST: 'db.example.com' });
  assert.match(fromEnvHost!, /names the database server db\.example\.com, reached without TLS/u);
  for (const [url, env] of [
    ['postgres://restauth:pw@db.example.com/app?sslmode=no-verify', {}],
    ['postgres://restauth:pw@db.example.com/app?sslmode=require&uselibpqcompat=true', {}],
    ['postgres://restauth:pw@db.example.com/app', { PGSSLMODE: 'no-verify' }],
  ] as const) {
    const warnings = await databaseWarningsOf(url, env);
    assert.equal(warnings.length, 1, `${url} ${JSON.stringify(warnings)}`);
    assert.match(
      warnings[0]!,
      /names the database server db\.example\.com without checking its certificate/u,
    );
  }
  // Sound: TLS with the certificate checked (node-postgres checks it under require too), or no network.
  for (const [url, env] of [
    ['postgres://restauth:pw@db.example.com/app?sslmode=verify-full', {}],
    ['postgres://restauth:pw@db.example.com/app?sslmode=require', {}],
    ['postgres://restauth:pw@db.example.com/app?ssl=true', {}],
    ['postgres://restauth:pw@db.example.com/app', { PGSSLMODE: 'require' }],
    ['postgres://restauth:pw@localhost:5432/app', {}],
    ['postgres://restauth:pw@127.0.0.1/app', {}],
    ['postgres://restauth:pw@[::1]/app', {}],
    ['postgres:///app?host=/var/run/postgresql', {}],
    ['postgres:///app', {}],
  ] as const) {
    assert.deepEqual(await databaseWarningsOf(url, env), [], url);
  }
});
