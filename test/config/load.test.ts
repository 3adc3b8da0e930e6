import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { detectFormat } from '../../src/config/load.js';
import { load, tempDir, writeJson } from '../support/config.js';

function rejectsWith(message: string | RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

/** A secret the policy accepts (config/secret-policy.ts): 32 bytes or more, published nowhere. */
const LONG_SECRET = 'a-private-secret-for-these-tests-0123456789';

test('no config file: every default, restauth source, absolute paths, frozen', async () => {
  const dir = await tempDir();
  const { config, warnings } = await load(dir);
  assert.deepEqual(warnings, []);
  assert.equal(config.source, 'restauth');
  assert.equal(config.configFile, null);
  assert.equal(config.port, 3000);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.jwt.secret, null);
  assert.equal(config.jwt.accessTokenTtl, 3600);
  assert.equal(config.passwords.algorithm, 'argon2id');
  assert.equal(config.passwords.minLength, 8);
  assert.equal(config.dialects.jsonDataServer.loginRoute, '/auth/login');
  assert.equal(config.dialects.gotrue.prefix, '/auth/v1');
  assert.equal(config.data.defaultRule, 660);
  assert.deepEqual(config.store, {
    type: 'file',
    dataFile: join(dir, 'db.json'),
    credentialsFile: join(dir, 'credentials.json'),
    usersProp: 'users',
    userIdProp: 'id',
  });
  assert.equal(config.stateDir, join(dir, '.restauth'));
  assert.equal(config.outboxDir, join(dir, '.restauth', 'outbox'));
  assert.equal(config.data.static, join(dir, 'public'));
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.jwt) && Object.isFrozen(config.data.routes));
  assert.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
});

test('json-data-server config.json: every auth key at its documented default maps through', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', {});
  // Its default secret is published: refused unless in development mode (secret-policy.test.ts).
  const { config, warnings } = await load(dir, { env: { RESTAUTH_DEV: '1' } });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /^config\.json: auth\.jwtSecret is json-data-server's published default/);
  assert.equal(config.source, 'json-data-server');
  assert.equal(config.configFile, join(dir, 'config.json'));
  assert.equal(config.port, 3000);
  const dialect = config.dialects.jsonDataServer;
  // The README's list, in its order: key → where it lands, with its default.
  assert.equal(dialect.registerRoute, '/auth/register');
  assert.equal(dialect.loginRoute, '/auth/login');
  assert.equal(dialect.logoutRoute, '/auth/logout');
  assert.equal(dialect.checkRoute, '/auth/check');
  assert.equal(dialect.refreshRoute, '/auth/refresh');
  assert.equal(dialect.passwordRoute, '/auth/password');
  assert.equal(config.store.type, 'file');
  assert.equal(config.store.type === 'file' && config.store.credentialsFile, join(dir, 'credentials.json'));
  assert.equal(config.store.type === 'file' && config.store.usersProp, 'users');
  assert.equal(config.store.type === 'file' && config.store.userIdProp, 'id');
  assert.equal(dialect.reqUserId, 'username');
  assert.equal(dialect.reqUserPassword, 'password');
  assert.equal(dialect.reqNewPassword, 'newpassword');
  assert.equal(config.passwords.usernamePattern, '.*');
  assert.equal(config.passwords.passwordPattern, '.*');
  assert.equal(config.passwords.algorithm, 'bcrypt');
  assert.equal(config.passwords.bcryptRounds, 10);
  assert.equal(config.jwt.secret, 'DefaultJWTSecretString-LOL');
  assert.equal(config.jwt.publicDefaultSecret, true);
  assert.equal(dialect.jwtAccessToken, 'access_token');
  assert.equal(dialect.jwtRefreshToken, 'refresh_token');
  assert.equal(config.jwt.accessTokenTtl, 60);
  assert.equal(config.sessions.inactivityTimeout, 86400);
  assert.equal(config.jwt.clockTolerance, 2);
  // No minimum length in json-data-server: only the empty password is refused.
  assert.equal(config.passwords.minLength, 1);
});

test('json-data-server config.json: every key set, json-server options, routes file, comments', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'routes.json', '{ "/api/*": "/$1", /* comment */ }');
  await writeJson(
    dir,
    'config.json',
    `{
      // json-server options
      "port": 4000,
      "host": "0.0.0.0",
      "readOnly": true,
      "id": "_id",
      "foreignKeySuffix": "_id",
      "delay": 250,
      "static": "./www",
      "routes": "routes.json",
      "rules": { "posts": 644 },
      "auth": {
        "registerRoute": "/signup",
        "loginRoute": "/signin",
        "logoutRoute": "",
        "checkRoute": "/verify",
        "refreshRoute": "/renew",
        "passwordRoute": "/pwd",
        "credentialsFile": "secrets/creds.json",
        "usersProp": "members",
        "userId": "email",
        "reqUserId": "login",
        "reqUserPassword": "pass",
        "reqNewPassword": "newpass",
        "userIdRE": "^[^@]+@[^@]+$",
        "userPwdRE": "^.{12,}$",
        "passwordSalt": 12,
        "jwtSecret": "a-long-private-secret-for-this-test",
        "jwtAccessToken": "token",
        "jwtRefreshToken": "renewal",
        "jwtExpiresIn": "15m",
        "jwtRefreshExpiresIn": "60d",
        "jwtClockTolerance": 5, // trailing commas too
      },
    }`,
  );
  const { config, warnings } = await load(dir);
  assert.deepEqual(warnings, []);
  assert.equal(config.port, 4000);
  assert.equal(config.host, '0.0.0.0');
  assert.deepEqual(
    { ...config.data },
    {
      enabled: true,
      readOnly: true,
      id: '_id',
      foreignKeySuffix: '_id',
      delay: 250,
      jsonp: true,
      jsonServer: '0.17',
      static: join(dir, 'www'),
      routes: { '/api/*': '/$1' },
      routesFile: join(dir, 'routes.json'),
      watch: false,
      snapshots: dir,
      rules: { posts: 644 },
      defaultRule: 660,
      ownerProp: 'userId',
    },
  );
  assert.deepEqual(
    { ...config.dialects.jsonDataServer },
    {
      enabled: true,
      registerRoute: '/signup',
      loginRoute: '/signin',
      logoutRoute: '',
      checkRoute: '/verify',
      refreshRoute: '/renew',
      passwordRoute: '/pwd',
      reqUserId: 'login',
      reqUserPassword: 'pass',
      reqNewPassword: 'newpass',
      jwtAccessToken: 'token',
      jwtRefreshToken: 'renewal',
    },
  );
  assert.deepEqual(
    { ...config.store },
    {
      type: 'file',
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'secrets', 'creds.json'),
      usersProp: 'members',
      userIdProp: 'email',
    },
  );
  assert.equal(config.passwords.usernamePattern, '^[^@]+@[^@]+$');
  assert.equal(config.passwords.passwordPattern, '^.{12,}$');
  assert.equal(config.passwords.bcryptRounds, 12);
  assert.equal(config.jwt.secret, 'a-long-private-secret-for-this-test');
  assert.equal(config.jwt.publicDefaultSecret, false);
  assert.equal(config.jwt.accessTokenTtl, 900);
  assert.equal(config.jwt.clockTolerance, 5);
  assert.equal(config.sessions.inactivityTimeout, 60 * 86400);
  // A session is never cut shorter than the refresh lifetime it had in json-data-server.
  assert.equal(config.sessions.absoluteLifetime, 60 * 86400);
});

test('json-data-server: bad values name the key as written', async () => {
  const dir = await tempDir();
  const cases: Array<[unknown, string | RegExp]> = [
    [{ auth: { passwordSalt: 'ten' } }, 'config.json: auth.passwordSalt must be an integer (got "ten")'],
    [{ auth: { passwordSalt: 3 } }, 'config.json: auth.passwordSalt must be at least 4 (got 3)'],
    [
      { auth: { userIdRE: '([a-z' } },
      /^config\.json: auth\.userIdRE is not a regular expression restauth can run in bounded time/,
    ],
    [
      { auth: { userPwdRE: '*' } },
      /^config\.json: auth\.userPwdRE is not a regular expression restauth can run in bounded time/,
    ],
    // RE2 cannot take them, and on the native engine they backtrack exponentially (a repeated repetition).
    [
      { auth: { userIdRE: '^(a+)+\\1$' } },
      /^config\.json: auth\.userIdRE is not a regular expression .*`\\1`.*repeats a repetition/,
    ],
    [
      { auth: { userPwdRE: '^(?=.*\\d)(a+)+$' } },
      /^config\.json: auth\.userPwdRE .*`\(\?=`.*repeats a repetition/,
    ],
    [
      { auth: { jwtExpiresIn: 'soon' } },
      /^config\.json: auth\.jwtExpiresIn must be a duration like .* \(got "soon"\)$/,
    ],
    [{ auth: { jwtRefreshExpiresIn: true } }, /^config\.json: auth\.jwtRefreshExpiresIn must be a duration/],
    [{ auth: { jwtSecret: '' } }, 'config.json: auth.jwtSecret must not be empty (got "")'],
    [{ auth: 'yes' }, 'config.json: auth must be an object (got "yes")'],
    [{ port: 'abc' }, 'config.json: port must be an integer (got "abc")'],
    [{ port: 70000 }, 'config.json: port must be at most 65535 (got 70000)'],
    [{ rules: { posts: 'all' } }, 'config.json: rules.posts must be an integer (got "all")'],
    [
      { routes: 42 },
      'config.json: routes must be a path to a routes.json file or an object of rewrites (got 42)',
    ],
    [{ routes: 'missing.json' }, 'config.json: missing.json: cannot read the file (no such file)'],
  ];
  for (const [content, message] of cases) {
    await writeJson(dir, 'config.json', content);
    await assert.rejects(load(dir), rejectsWith(message), JSON.stringify(content));
  }
});

test('unknown keys warn, they do not fail', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', { watch: true, colour: 'blue', auth: { jwtSecet: 'typo' } });
  const { config, warnings } = await load(dir, { env: { RESTAUTH_JWT_SECRET: LONG_SECRET } });
  assert.equal(config.source, 'json-data-server');
  assert.deepEqual(warnings, ['config.json: unknown keys ignored: colour, auth.jwtSecet']);
  assert.equal(config.data.watch, true, "json-server's option is read");
});

const POSTGREST_AUTH_EXAMPLE = `// postgrest-auth.json example
{
  "app_name": "A Game of Theories", // used in email signature
  "db": {
    "connection": {
      "host": "localhost",
      "port": 5432,
      "database": "postgres",
      "user": "postgres",
      "password": "pass"
    },
    "connection_string": "postgres://postgres:pass@localhost/postgres",
    "pool": {
      "min": 2,
      "max": 10
    },
    "schema": "auth",
    "table": "users"
  },
  "email": {
    "from": "contact@agameoftheories.com",
    "host": "mail.privateemail.com",
    "port": 465,
    "secure": true,
    "auth": {
      "user": "contact@agameoftheories.com",
      "pass": "thepassword"
    }
  },
  "payload": {
    "exp": 604800,
    "iss": "https://agameoftheories.com"
  },
  "port": 3001,
  "roles": {
    "anonymous": "web_anon",
    "user": "normal_user"
  },
  "secret": "secret" // jwt secret
}`;

test("postgrest-auth.json: the README's example, comments included, maps key by key", async () => {
  const dir = await tempDir();
  await writeJson(dir, 'postgrest-auth.json', POSTGREST_AUTH_EXAMPLE);
  // The example's secret is "secret": accepted in development mode only, with a warning.
  const { config, warnings } = await load(dir, { env: { RESTAUTH_DEV: 'true' } });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /^postgrest-auth\.json: secret is postgrest-auth's example/);
  assert.equal(config.source, 'postgrest-auth');
  assert.equal(config.appName, 'A Game of Theories');
  assert.deepEqual(
    { ...config.store },
    {
      type: 'postgres',
      url: 'postgres://postgres:pass@localhost/postgres',
      schema: 'auth',
      table: 'users',
      poolMin: 2,
      poolMax: 10,
      preparedStatements: true,
      startupTimeout: 60,
      connectTimeout: 10,
      queryTimeout: 15,
      keepAlive: 30,
    },
  );
  assert.deepEqual(config.email, {
    from: 'contact@agameoftheories.com',
    host: 'mail.privateemail.com',
    port: 465,
    secure: true,
    auth: { user: 'contact@agameoftheories.com', pass: 'thepassword' },
  });
  assert.equal(config.jwt.accessTokenTtl, 604800);
  assert.equal(config.jwt.issuer, 'https://agameoftheories.com');
  assert.deepEqual(config.dialects.postgrestAuth.payload, {});
  assert.equal(config.port, 3001);
  assert.deepEqual(
    { ...config.roles },
    {
      anonymous: 'web_anon',
      authenticated: 'normal_user',
      service: 'service_role',
      perUser: true,
      authenticator: null,
    },
  );
  assert.equal(config.jwt.secret, 'secret');
  // The PostgreSQL store has no data file: state lives beside the config file.
  assert.equal(config.stateDir, join(dir, '.restauth'));
});

test('postgrest-auth.json: its own defaults, connection fields, extra payload claims', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'postgrest-auth.json', {
    db: {
      connection: { host: 'db.internal', port: 6543, database: 'app', user: 'auth', password: 'p@ss:/word' },
    },
    payload: { aud: 'postgrest', exp: '7d' },
  });
  const { config } = await load(dir);
  assert.equal(config.port, 3001);
  assert.deepEqual(
    { ...config.store },
    {
      type: 'postgres',
      url: 'postgres://auth:p%40ss%3A%2Fword@db.internal:6543/app',
      schema: 'auth',
      table: 'users',
      poolMin: 2,
      poolMax: 10,
      preparedStatements: true,
      startupTimeout: 60,
      connectTimeout: 10,
      queryTimeout: 15,
      keepAlive: 30,
    },
  );
  assert.equal(
    new URL(config.store.type === 'postgres' ? config.store.url : '').password,
    'p%40ss%3A%2Fword',
  );
  assert.equal(
    decodeURIComponent(new URL(config.store.type === 'postgres' ? config.store.url : '').password),
    'p@ss:/word',
  );
  assert.deepEqual(
    { ...config.roles },
    {
      anonymous: 'web_anon',
      authenticated: 'normal_user',
      service: 'service_role',
      perUser: true,
      authenticator: null,
    },
  );
  // aud is the audience every token carries (each user's, made from it), not a claim copied over it.
  assert.deepEqual(config.dialects.postgrestAuth.payload, {});
  assert.equal(config.jwt.audience, 'postgrest');
  assert.equal(config.jwt.accessTokenTtl, 7 * 86400);
  assert.equal(config.jwt.issuer, null);
  assert.equal(config.jwt.secret, null);
});

test('postgrest-auth.json: bad values and a missing connection are named', async () => {
  const dir = await tempDir();
  const cases: Array<[unknown, string | RegExp]> = [
    [
      { db: { connection_string: 'postgres://x/y', schema: 'auth; drop' } },
      /^postgrest-auth\.json: db\.schema must match /,
    ],
    [
      { db: { connection_string: 'postgres://x/y', pool: { max: 0 } } },
      'postgrest-auth.json: db.pool.max must be at least 1 (got 0)',
    ],
    [
      { db: { connection_string: 'postgres://x/y', pool: { min: 5, max: 3 } } },
      /db\.pool\.min must not exceed db\.pool\.max/,
    ],
    [
      { db: { connection_string: 'postgres://x/y' }, roles: { user: 7 } },
      'postgrest-auth.json: roles.user must be a string (got 7)',
    ],
    [
      { db: { connection_string: 'postgres://x/y' }, payload: { exp: 'a week' } },
      /^postgrest-auth\.json: payload\.exp must be a duration/,
    ],
    [{ secret: 'x' }, /^postgrest-auth\.json: no PostgreSQL connection: set db\.connection_string/],
  ];
  for (const [content, message] of cases) {
    await writeJson(dir, 'postgrest-auth.json', content);
    await assert.rejects(load(dir), rejectsWith(message), JSON.stringify(content));
  }
});

test('postgrest-auth: its command-line flags override the file and the environment; PORT sets the port', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'postgrest-auth.json', POSTGREST_AUTH_EXAMPLE);
  const env = {
    PORT: '4100',
    DATABASE_URL: 'postgres://env@envhost/envdb',
    RESTAUTH_JWT_SECRET: LONG_SECRET,
  };
  const fromEnv = await load(dir, { env });
  assert.equal(fromEnv.config.port, 4100);
  assert.equal(
    fromEnv.config.store.type === 'postgres' && fromEnv.config.store.url,
    'postgres://env@envhost/envdb',
  );
  // Settings the environment does not touch stay as the file has them.
  assert.equal(fromEnv.config.store.type === 'postgres' && fromEnv.config.store.poolMin, 2);

  const { config } = await load(dir, {
    env,
    port: 4200,
    postgrestAuth: {
      app: 'Flags',
      connection: 'postgres://flag@flaghost/flagdb',
      schema: 'accounts',
      table: 'people',
      expire: '3600',
      issuer: 'https://flags.example',
      secret: 'flag-secret-0123456789abcdef-0123456789',
    },
  });
  assert.equal(config.port, 4200);
  assert.equal(config.appName, 'Flags');
  assert.deepEqual(
    { ...config.store },
    {
      type: 'postgres',
      url: 'postgres://flag@flaghost/flagdb',
      schema: 'accounts',
      table: 'people',
      poolMin: 2,
      poolMax: 10,
      preparedStatements: true,
      startupTimeout: 60,
      connectTimeout: 10,
      queryTimeout: 15,
      keepAlive: 30,
    },
  );
  assert.equal(config.jwt.accessTokenTtl, 3600);
  assert.equal(config.jwt.issuer, 'https://flags.example');
  assert.equal(config.jwt.secret, 'flag-secret-0123456789abcdef-0123456789');
  await assert.rejects(
    load(dir, { env, postgrestAuth: { expire: 'never' } }),
    rejectsWith(/^--expire: value must be a duration/),
  );
});

test('restauth.json: the schema shape, durations as strings or seconds', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'restauth.json', {
    port: 8080,
    jwt: {
      secret: 'restauth-secret-0123456789abcdef-0123456789',
      accessTokenTtl: '15m',
      clockTolerance: 0,
      audience: 'api',
    },
    sessions: { absoluteLifetime: '90d', inactivityTimeout: 3600, reuseGrace: '30s' },
    passwords: { minLength: 12 },
    store: { dataFile: 'data/db.json' },
    data: { rules: { posts: 640 } },
    stateDir: 'state',
  });
  const { config, warnings } = await load(dir);
  assert.deepEqual(warnings, []);
  assert.equal(config.source, 'restauth');
  assert.equal(config.port, 8080);
  assert.deepEqual(
    { ...config.jwt },
    {
      secret: 'restauth-secret-0123456789abcdef-0123456789',
      secretKeyId: null,
      accessTokenTtl: 900,
      clockTolerance: 0,
      issuer: null,
      audience: 'api',
      publicDefaultSecret: false,
      generatedSecret: false,
      keys: [],
      signingKeyId: null,
    },
  );
  assert.deepEqual(
    { ...config.sessions },
    {
      absoluteLifetime: 90 * 86400,
      inactivityTimeout: 3600,
      reuseGrace: 30,
      maxPerUser: 100,
      endedRetention: 86400,
    },
  );
  assert.equal(config.passwords.minLength, 12);
  assert.equal(config.passwords.algorithm, 'argon2id');
  assert.equal(config.store.type === 'file' && config.store.dataFile, join(dir, 'data', 'db.json'));
  // Defaults beside the data file.
  assert.equal(
    config.store.type === 'file' && config.store.credentialsFile,
    join(dir, 'data', 'credentials.json'),
  );
  assert.equal(config.stateDir, join(dir, 'data', 'state'));
  assert.deepEqual(config.data.rules, { posts: 640 });
});

test('restauth.json: a PostgreSQL store, bad values named, unknown and computed keys warned', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'restauth.json', {
    store: { type: 'postgres', url: 'postgres://a@b/c', schema: 'authn' },
  });
  const { config } = await load(dir);
  assert.deepEqual(
    { ...config.store },
    {
      type: 'postgres',
      url: 'postgres://a@b/c',
      schema: 'authn',
      table: 'users',
      poolMin: 0,
      poolMax: 10,
      preparedStatements: true,
      startupTimeout: 60,
      connectTimeout: 10,
      queryTimeout: 15,
      keepAlive: 30,
    },
  );

  const cases: Array<[unknown, string | RegExp]> = [
    [{ jwt: { accessTokenTtl: 'soon' } }, /^restauth\.json: jwt\.accessTokenTtl must be a duration like/],
    [{ jwt: { accessTokenTtl: 0 } }, 'restauth.json: jwt.accessTokenTtl must be at least 1 (got 0)'],
    [
      { passwords: { algorithm: 'md5' } },
      'restauth.json: passwords.algorithm must be one of "argon2id", "bcrypt" (got "md5")',
    ],
    [
      { store: { type: 'mysql' } },
      'restauth.json: store.type must be one of "file", "postgres" (got "mysql")',
    ],
    // The URL may come from DATABASE_URL or --connection, so only the end result is checked.
    [
      { store: { type: 'postgres' } },
      /^restauth\.json: no PostgreSQL connection: .*store\.url in restauth\.json, DATABASE_URL/,
    ],
    [{ store: { dataFile: '' } }, 'restauth.json: store.dataFile must not be empty (got "")'],
    [{ data: { routes: { '/api/*': 1 } } }, 'restauth.json: data.routes["/api/*"] must be a string (got 1)'],
    [{ jwt: { secret: 5 } }, 'restauth.json: jwt.secret must be a string or null (got [redacted])'],
    [
      { passwords: { usernamePattern: '^(\\w+)*\\1' } },
      /^restauth\.json: passwords\.usernamePattern is not a regular expression restauth can run in bounded time: .*`\\1`/,
    ],
    [
      { passwords: { passwordPattern: '(?<!x)(y*)*' } },
      /^restauth\.json: passwords\.passwordPattern is not a regular expression restauth can run in bounded time/,
    ],
    [[1, 2], 'restauth.json: the file must hold a JSON object'],
  ];
  for (const [content, message] of cases) {
    await writeJson(dir, 'restauth.json', content);
    await assert.rejects(load(dir), rejectsWith(message), JSON.stringify(content));
  }

  await writeJson(dir, 'restauth.json', {
    source: 'postgrest-auth',
    jwt: { publicDefaultSecret: false, secrt: 'x' },
  });
  const warned = await load(dir);
  assert.equal(warned.config.source, 'restauth');
  assert.deepEqual(warned.warnings, [
    'restauth.json: unknown keys ignored: source, jwt.publicDefaultSecret, jwt.secrt',
  ]);
});

test('--config: the format is detected from the content, whatever the file name', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'a.json', { auth: { jwtSecret: LONG_SECRET } });
  await writeJson(dir, 'b.json', { readOnly: true });
  await writeJson(dir, 'c.json', { db: { connection_string: 'postgres://u@h/d' } });
  await writeJson(dir, 'd.json', {
    roles: { anonymous: 'web_anon', user: 'normal_user' },
    secret: LONG_SECRET,
  });
  await writeJson(dir, 'e.json', { roles: { anonymous: 'anon' }, jwt: { secret: LONG_SECRET } });
  const sources = [];
  for (const name of ['a.json', 'b.json', 'c.json', 'd.json', 'e.json']) {
    const env = { DATABASE_URL: 'postgres://u@h/d', RESTAUTH_JWT_SECRET: LONG_SECRET };
    const { config } = await load(dir, { configFile: name, env });
    sources.push(config.source);
  }
  assert.deepEqual(sources, [
    'json-data-server',
    'json-data-server',
    'postgrest-auth',
    'postgrest-auth',
    'restauth',
  ]);
  assert.equal(detectFormat({ port: 3000 }), 'restauth');
  // An explicit --config that does not exist is an error, not a silent fallback to defaults.
  await assert.rejects(
    load(dir, { configFile: 'missing.json' }),
    rejectsWith('missing.json: cannot read the file (no such file)'),
  );
});

test('without --config: restauth.json wins over config.json, which wins over postgrest-auth.json', async () => {
  const dir = await tempDir();
  const env = { RESTAUTH_JWT_SECRET: LONG_SECRET };
  await writeJson(dir, 'postgrest-auth.json', { db: { connection_string: 'postgres://u@h/d' } });
  assert.equal((await load(dir, { env })).config.source, 'postgrest-auth');
  await writeJson(dir, 'config.json', { port: 3333 });
  assert.equal((await load(dir, { env })).config.source, 'json-data-server');
  await writeJson(dir, 'restauth.json', {});
  assert.equal((await load(dir, { env })).config.source, 'restauth');
});

test('a syntax error names the file, line and column', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', '{\n  "port": 3000\n  "host": "x"\n}');
  await assert.rejects(load(dir), rejectsWith('config.json:3:3: invalid JSON (CommaExpected)'));
  await writeJson(dir, 'config.json', '');
  await assert.rejects(load(dir), rejectsWith('config.json: the file is empty'));
});

test('environment variables override the file', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', { port: 4000, host: 'localhost' });
  const { config } = await load(dir, {
    env: {
      RESTAUTH_PORT: '5000',
      PORT: '5001',
      RESTAUTH_HOST: '0.0.0.0',
      RESTAUTH_JWT_SECRET: 'from-the-environment-0123456789-0123456789',
      RESTAUTH_DATA_FILE: 'var/data.json',
      RESTAUTH_CREDENTIALS_FILE: '/srv/creds.json',
      RESTAUTH_ACCESS_TOKEN_TTL: '5m',
      RESTAUTH_PASSWORD_ALGORITHM: 'argon2id',
      RESTAUTH_LOG_LEVEL: 'debug',
      RESTAUTH_SMTP_URL: 'smtps://user:pass@mail.example:465',
    },
  });
  assert.equal(config.port, 5000);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.jwt.secret, 'from-the-environment-0123456789-0123456789');
  // The public default was replaced: no warning due.
  assert.equal(config.jwt.publicDefaultSecret, false);
  assert.equal(config.store.type === 'file' && config.store.dataFile, join(dir, 'var', 'data.json'));
  assert.equal(config.store.type === 'file' && config.store.credentialsFile, '/srv/creds.json');
  // Unset by the environment, kept from the file format.
  assert.equal(config.store.type === 'file' && config.store.usersProp, 'users');
  assert.equal(config.jwt.accessTokenTtl, 300);
  assert.equal(config.passwords.algorithm, 'argon2id');
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(config.email, { url: 'smtps://user:pass@mail.example:465' });
  assert.equal(config.stateDir, join(dir, 'var', '.restauth'));
});

test('DATABASE_URL switches a file store to PostgreSQL; file settings are dropped with a warning', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', { auth: { usersProp: 'members' } });
  const { config, warnings } = await load(dir, {
    env: {
      DATABASE_URL: 'postgresql://u:p@localhost:5432/d',
      RESTAUTH_DATA_FILE: 'x.json',
      RESTAUTH_JWT_SECRET: LONG_SECRET,
    },
  });
  assert.deepEqual(
    { ...config.store },
    {
      type: 'postgres',
      url: 'postgresql://u:p@localhost:5432/d',
      schema: 'auth',
      table: 'users',
      poolMin: 0,
      poolMax: 10,
      preparedStatements: true,
      startupTimeout: 60,
      connectTimeout: 10,
      queryTimeout: 15,
      keepAlive: 30,
    },
  );
  assert.deepEqual(warnings, [
    'the PostgreSQL store is configured; file store settings ignored: RESTAUTH_DATA_FILE',
  ]);
});

test('RESTAUTH_DB_STARTUP_TIMEOUT sets how long start-up waits for PostgreSQL, with DATABASE_URL or a configured store', async () => {
  const dir = await tempDir();
  const { config } = await load(dir, {
    env: { DATABASE_URL: 'postgres://u@h/d', RESTAUTH_DB_STARTUP_TIMEOUT: '2m' },
  });
  assert.equal(config.store.type === 'postgres' && config.store.startupTimeout, 120);
  await writeJson(dir, 'restauth.json', {
    store: { type: 'postgres', url: 'postgres://u@h/d', startupTimeout: 5 },
  });
  const fromFile = (await load(dir)).config.store;
  assert.equal(fromFile.type === 'postgres' && fromFile.startupTimeout, 5);
  const overridden = (await load(dir, { env: { RESTAUTH_DB_STARTUP_TIMEOUT: '0' } })).config.store;
  assert.equal(overridden.type === 'postgres' && overridden.startupTimeout, 0);
});

test('the PostgreSQL pool bounds come from the config file or RESTAUTH_DB_* variables', async () => {
  const dir = await tempDir();
  const { config } = await load(dir, {
    env: {
      DATABASE_URL: 'postgres://u@h/d',
      RESTAUTH_DB_CONNECT_TIMEOUT: '3s',
      RESTAUTH_DB_QUERY_TIMEOUT: '1m',
      RESTAUTH_DB_KEEPALIVE: '0',
    },
  });
  const { store } = config;
  assert.ok(store.type === 'postgres');
  assert.deepEqual([store.connectTimeout, store.queryTimeout, store.keepAlive], [3, 60, 0]);
  await writeJson(dir, 'restauth.json', {
    store: { type: 'postgres', url: 'postgres://u@h/d', connectTimeout: 2, queryTimeout: 0 },
  });
  const fromFile = (await load(dir)).config.store;
  assert.ok(fromFile.type === 'postgres');
  assert.deepEqual([fromFile.connectTimeout, fromFile.queryTimeout, fromFile.keepAlive], [2, 0, 30]);
  const overridden = (await load(dir, { env: { RESTAUTH_DB_QUERY_TIMEOUT: '20' } })).config.store;
  assert.equal(overridden.type === 'postgres' && overridden.queryTimeout, 20);
  await assert.rejects(
    load(dir, { env: { RESTAUTH_DB_CONNECT_TIMEOUT: 'soon' } }),
    /^ConfigError: environment: RESTAUTH_DB_CONNECT_TIMEOUT must be a duration/u,
  );
  await writeJson(dir, 'restauth.json', {
    store: { type: 'postgres', url: 'postgres://u@h/d', connectTimeout: 0 },
  });
  await assert.rejects(load(dir), /store\.connectTimeout/u);
});

test('bad environment values name the variable', async () => {
  const dir = await tempDir();
  const cases: Array<[NodeJS.ProcessEnv, string | RegExp]> = [
    [{ RESTAUTH_PORT: 'abc' }, 'environment: RESTAUTH_PORT must be a port number (0-65535) (got "abc")'],
    [{ PORT: '99999' }, 'environment: PORT must be a port number (0-65535) (got "99999")'],
    [{ RESTAUTH_ACCESS_TOKEN_TTL: 'forever' }, /^environment: RESTAUTH_ACCESS_TOKEN_TTL must be a duration/],
    [
      { RESTAUTH_PASSWORD_ALGORITHM: 'sha1' },
      'environment: RESTAUTH_PASSWORD_ALGORITHM must be one of "argon2id", "bcrypt" (got "sha1")',
    ],
    [{ RESTAUTH_LOG_LEVEL: 'loud' }, /^environment: RESTAUTH_LOG_LEVEL must be one of "fatal"/],
    [
      { DATABASE_URL: 'mysql://x' },
      'environment: DATABASE_URL must be a URL (postgres: or postgresql:) (got "mysql://x")',
    ],
    [{ RESTAUTH_SMTP_URL: 'not a url' }, /^environment: RESTAUTH_SMTP_URL must be a URL/],
    [{ RESTAUTH_DB_STARTUP_TIMEOUT: 'soon' }, /^environment: RESTAUTH_DB_STARTUP_TIMEOUT must be a duration/],
  ];
  for (const [env, message] of cases) {
    await assert.rejects(load(dir, { env }), rejectsWith(message), JSON.stringify(env));
  }
  // An empty variable counts as unset.
  assert.equal((await load(dir, { env: { RESTAUTH_PORT: '' } })).config.port, 3000);
});

test('command-line options override the environment', async () => {
  const dir = await tempDir();
  const { config } = await load(dir, {
    env: { RESTAUTH_PORT: '5000', RESTAUTH_HOST: '0.0.0.0', RESTAUTH_DATA_FILE: 'env.json' },
    port: 6000,
    host: '::1',
    dataFile: 'cli/db.json',
  });
  assert.equal(config.port, 6000);
  assert.equal(config.host, '::1');
  assert.equal(config.store.type === 'file' && config.store.dataFile, join(dir, 'cli', 'db.json'));
  const overridden = await load(dir, { port: 6000, overrides: { port: 0, passwords: { minLength: 3 } } });
  assert.equal(overridden.config.port, 0);
  assert.equal(overridden.config.passwords.minLength, 3);
});

test('a config or routes file with a __proto__, constructor or prototype key is refused, naming where', async () => {
  const dir = await tempDir();
  const env = { RESTAUTH_JWT_SECRET: LONG_SECRET };
  await writeJson(dir, 'restauth.json', '{\n  "port": 3000,\n  "__proto__": { "development": true }\n}');
  await assert.rejects(
    load(dir, { env }),
    rejectsWith('restauth.json:3:3: "__proto__" is not allowed as a key'),
  );
  await rm(join(dir, 'restauth.json'));
  await writeJson(dir, 'routes.json', '{ "/api/*": "/$1", "constructor": "/x" }');
  await writeJson(dir, 'config.json', { routes: 'routes.json' });
  await assert.rejects(
    load(dir, { env }),
    rejectsWith('config.json: routes.json:1:20: "constructor" is not allowed as a key'),
  );
  await writeJson(dir, 'config.json', { rules: { prototype: 644 } });
  await assert.rejects(load(dir, { env }), rejectsWith(/^config\.json:3:5: "prototype" is not allowed/));
});
