import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { User } from '../../src/core/ports/store.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { startKeycloakApp } from '../support/oauth-app.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Property-based attacks (issue 10): generated hostile JSON, paths and query
 * strings go to every route every configuration mounts, from a signed-in
 * attacker and from nobody. Whatever arrives, the server answers below 500,
 * never changes another user (identity, credentials, public record), never
 * pollutes a prototype, and still serves afterwards.
 *
 * The seed is fixed so a run is reproducible; RESTAUTH_FUZZ_SEED and
 * RESTAUTH_FUZZ_RUNS explore further (a failure prints the seed and the
 * shrunk request to replay).
 */
const SEED = Number(process.env.RESTAUTH_FUZZ_SEED ?? 20261129);
const RUNS = Number(process.env.RESTAUTH_FUZZ_RUNS ?? 500);
/** Runs per route for the routes whose fields are known (the targeted property). */
const ROUTE_RUNS = Math.ceil(RUNS / 10);

const VICTIM = { username: 'victim', email: 'victim@corp.test', password: 'victim passphrase 1' };
const ATTACKER = { username: 'mallory', email: 'mallory@evil.test', password: 'mallory passphrase 1' };

/** Field names the routes of the four wire formats read, so generated bodies reach real code paths. */
const FIELD_NAMES = [
  'id',
  'sub',
  'uid',
  'email',
  'new_email',
  'newEmail',
  'phone',
  'password',
  'new_password',
  'newPassword',
  'username',
  'user',
  'name',
  'role',
  'data',
  'user_metadata',
  'app_metadata',
  'email_confirm',
  'ban_duration',
  'token',
  'token_hash',
  'type',
  'code',
  'refresh_token',
  'access_token',
  'grant_type',
  'redirect_to',
  'options',
  'nonce',
  'userId',
  'title',
  'postId',
  'encrypted_password',
  'email_confirmed_at',
  'banned_until',
  'tokenVersion',
];

const POISON_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf'];

/** Strings that have broken auth servers: look-alikes, NULs, markup, injections, the victim's own identifiers. */
const hostileString = fc.oneof(
  fc.constantFrom(
    ...POISON_KEYS,
    VICTIM.username,
    VICTIM.email,
    ` ${VICTIM.email.toUpperCase()} `,
    'VICTIM',
    '\u212Aate',
    'ｖｉｃｔｉｍ',
    'victim\u0000',
    '\u0000',
    'a\u0000b@corp.test',
    '<mallory@evil.test>corp.test',
    'xx:;x@x.x',
    'victim@corp.test\r\nBcc: mallory@evil.test',
    "'; drop table auth.users; --",
    '../../etc/passwd',
    '%00',
    '\uD800',
    'service_role',
    'postgres',
    'pg_read_server_files',
    '24h',
    'none',
    '1',
    '0',
    '-1',
    'true',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.nat(5).map((n) => 'x'.repeat(10 ** n)),
);

const poisonOrField = fc.oneof(fc.constantFrom(...FIELD_NAMES, ...POISON_KEYS), fc.string({ maxLength: 12 }));

/** A JSON text, built as text so that keys like `__proto__` really are in it (an object literal would lose them). */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString.map((text) => JSON.stringify(text)),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n) => JSON.stringify(n)),
    fc.constantFrom('null', 'true', 'false', '1e308', '-0', '12345678901234567890'),
    tie('object'),
    tie('array'),
  ),
  object: fc
    .array(fc.tuple(poisonOrField, tie('value')), { maxLength: 6 })
    .map((pairs) => `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`),
  array: fc.array(tie('value'), { maxLength: 4 }).map((values) => `[${values.join(',')}]`),
})).value;

/** Values a route accepts, so that a hostile field rides along a request that gets past the schema. */
const plausibleValue = fc.oneof(
  fc.constantFrom(
    JSON.stringify(ATTACKER.password),
    JSON.stringify('a new passphrase 2'),
    JSON.stringify(ATTACKER.email),
    JSON.stringify(ATTACKER.username),
    JSON.stringify('recovery'),
    JSON.stringify('email'),
    JSON.stringify('signup'),
    JSON.stringify('magiclink'),
    JSON.stringify('password'),
    JSON.stringify('refresh_token'),
    JSON.stringify('123456'),
  ),
  fc.emailAddress().map((address) => JSON.stringify(address)),
  fc.stringMatching(/^[a-z]{3,12}$/u).map((name) => JSON.stringify(name)),
);

/** An object of the fields routes read: plausible values mostly, hostile ones and nested JSON among them. */
const fieldsObject = fc
  .array(
    fc.tuple(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FIELD_NAMES) }, fc.constantFrom(...POISON_KEYS)),
      fc.oneof(
        { weight: 3, arbitrary: plausibleValue },
        { weight: 3, arbitrary: hostileString.map((text) => JSON.stringify(text)) },
        { weight: 1, arbitrary: jsonText },
      ),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((pairs) => `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`);

const freshEmail = fc.stringMatching(/^[a-z]{4,10}$/u).map((name) => JSON.stringify(`${name}@corp.test`));
const freshName = fc.stringMatching(/^[a-z]{4,10}$/u).map((name) => JSON.stringify(name));
const password = fc.constantFrom(JSON.stringify(ATTACKER.password), JSON.stringify('a new passphrase 2'));
const metadata = fc.oneof({ weight: 4, arbitrary: fieldsObject }, jsonText);

/**
 * What each route reads, valid by default, keyed by the end of its path: a
 * template gets past the schema, so the hostile values mixed into it reach
 * the use case and the store behind.
 */
const TEMPLATES: [suffix: string, fields: Record<string, fc.Arbitrary<string>>][] = [
  ['/signup', { email: freshEmail, password, data: metadata }],
  ['/otp', { email: freshEmail, data: metadata, create_user: fc.constant('true') }],
  ['/token', { email: fc.constant(JSON.stringify(ATTACKER.email)), password, refresh_token: freshName }],
  ['/recover', { email: fc.constantFrom(JSON.stringify(VICTIM.email), JSON.stringify(ATTACKER.email)) }],
  ['/resend', { type: fc.constantFrom('"signup"', '"email_change"'), email: freshEmail }],
  [
    '/verify',
    {
      type: fc.constantFrom('"recovery"', '"magiclink"', '"signup"', '"email"'),
      token: fc.constant('"123456"'),
      email: fc.constant(JSON.stringify(VICTIM.email)),
      token_hash: freshName,
    },
  ],
  ['/user', { email: freshEmail, password, data: metadata }],
  [
    '/admin/users',
    {
      email: freshEmail,
      password,
      user_metadata: metadata,
      app_metadata: metadata,
      ban_duration: fc.constant('"24h"'),
    },
  ],
  ['/register', { username: freshName, password, email: freshEmail, profile: metadata }],
  ['/login', { username: fc.constant(JSON.stringify(ATTACKER.username)), password }],
  [
    '/change_email',
    { username: fc.constant(JSON.stringify(ATTACKER.username)), email: freshEmail, newEmail: freshEmail },
  ],
  [
    '/change_password',
    { username: fc.constant(JSON.stringify(ATTACKER.username)), password, newPassword: password },
  ],
  [
    '/forgot_password',
    {
      username: fc.constant(JSON.stringify(VICTIM.username)),
      email: fc.constant(JSON.stringify(VICTIM.email)),
    },
  ],
  [
    '/password',
    { username: fc.constant(JSON.stringify(ATTACKER.username)), password, newPassword: password },
  ],
  ['/refresh', { refresh_token: freshName }],
  ['/refresh_token', { username: fc.constant(JSON.stringify(ATTACKER.username)), password }],
  ['/forgot_username', { email: fc.constant(JSON.stringify(VICTIM.email)) }],
  ['/check', { access_token: freshName }],
  ['/logout', { refresh_token: freshName }],
  [
    '/users',
    { user: freshName, username: freshName, password, email: freshEmail, title: jsonText, bio: metadata },
  ],
  ['/posts', { title: jsonText, userId: freshName, body: metadata }],
];

/** A route's template with some values made hostile and hostile fields added (identity fields among them). */
function templateBody(path: string): fc.Arbitrary<string> | null {
  // The data API's wildcard takes any collection: its bodies are those of users and posts.
  if (path.endsWith('*')) return fc.oneof(templateBody('/users')!, templateBody('/posts')!);
  const template = TEMPLATES.find(([suffix]) => path.endsWith(suffix) || path.includes(`${suffix}/`))?.[1];
  if (!template) return null;
  const hostileValue = fc.oneof(
    hostileString.map((text) => JSON.stringify(text)),
    jsonText,
  );
  return fc
    .tuple(
      fc.tuple(
        ...Object.entries(template).map(([key, value]) =>
          fc.tuple(
            fc.constant(key),
            fc.oneof({ weight: 3, arbitrary: value }, hostileValue),
            fc.nat(9).map((n) => n === 0),
          ),
        ),
      ),
      fc.array(
        fc.tuple(fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.constantFrom(...POISON_KEYS)), hostileValue),
        { maxLength: 3 },
      ),
    )
    .map(([fields, extra]) => {
      const kept = fields
        .filter(([, , drop]) => !drop || fields.length === 1)
        .map(([key, value]) => [key, value] as const);
      return `{${[...kept, ...extra].map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
    });
}

/** A request body: a hostile object, JSON nested thousands deep, or text that is not what it claims. */
const bodyText = (path: string) => {
  const template = templateBody(path);
  return fc.oneof(
    ...(template ? [{ weight: 30, arbitrary: template }] : []),
    { weight: 4, arbitrary: fieldsObject },
    { weight: 3, arbitrary: jsonText },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...FIELD_NAMES), fc.integer({ min: 100, max: 20_000 }), fc.boolean())
        .map(([field, depth, arrays]) =>
          arrays
            ? `{"${field}":${'['.repeat(depth)}${']'.repeat(depth)}}`
            : `{"${field}":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
        ),
    },
    { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '"x"', '{"a":1}{"b":2}', '\u0000') },
  );
};

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
interface Route {
  method: Method;
  path: string;
}

/**
 * The routes Fastify has registered, read from printRoutes' tree (each line
 * a path segment under its parent's): a route added later is attacked too.
 */
function registeredRoutes(t: TestApp): Route[] {
  const routes: Route[] = [];
  const stack: string[] = [];
  for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+) \(([A-Z, ]+)\)$/u.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = (depth === 0 ? '' : stack[depth - 1]!) + match[2]!;
    stack[depth] = path;
    for (const method of match[3]!.split(', ')) {
      if (method !== 'OPTIONS') routes.push({ method: method as Method, path });
    }
  }
  return routes;
}

/** Concrete paths for a route: parameters and wildcards filled with the victim's ids, poison and junk. */
function pathFor(route: Route, victimId: string): fc.Arbitrary<string> {
  const segment = fc.oneof(
    fc.constantFrom(
      victimId,
      'victim',
      '1',
      '2',
      ...POISON_KEYS,
      'users',
      'posts',
      'db',
      'auth',
      '%00',
      '..',
    ),
    fc.string({ maxLength: 10 }).map(encodeURIComponent),
  );
  const collection = fc.constantFrom(
    ...['users', 'posts', 'comments', 'db', 'auth', ...POISON_KEYS],
    // json-server-auth's guarded collections (600, 640, 660) and its routes under the wildcard.
    ...['secrets', 'notes', 'messages', 'register', 'signup', 'login'],
  );
  if (route.path.endsWith('*')) {
    const base = route.path.slice(0, -1);
    return fc
      .oneof(
        collection,
        fc.tuple(collection, segment).map(([name, id]) => `${name}/${id}`),
        fc.tuple(collection, segment, collection).map(([name, id, child]) => `${name}/${id}/${child}`),
      )
      .map((rest) => base + rest);
  }
  if (!route.path.includes(':')) return fc.constant(route.path);
  return segment.map((value) => route.path.replace(/:[A-Za-z_]+/gu, value));
}

/** A query string of json-server operators, GoTrue parameters and poison, each value hostile. */
const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          '_sort',
          '_order',
          '_embed',
          '_expand',
          '_page',
          '_limit',
          '_start',
          '_end',
          'q',
          'id',
          'userId',
          'title_like',
          'views_gte',
          'a.b.c',
          'token',
          'type',
          'redirect_to',
          'page',
          'per_page',
          // The OAuth routes' (/authorize, /callback, /token?grant_type=id_token, /user/identities/authorize).
          'provider',
          'state',
          'code',
          'error',
          'error_description',
          'code_challenge',
          'code_challenge_method',
          'skip_http_redirect',
          'grant_type',
          ...POISON_KEYS,
          '__proto__.polluted',
          'constructor.prototype.polluted',
        ),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(
        hostileString.filter((value) => value.length < 2000),
        // Values that lead past the first check: the configured provider, GoTrue's grant types.
        fc.constantFrom('keycloak', 'pkce', 's256', 'id_token', 'password', 'true'),
      ),
    ),
    { maxLength: 5 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : `?${new URLSearchParams(pairs).toString()}`));

const userIdProp = (t: TestApp) => (t.config.store.type === 'file' ? t.config.store.userIdProp : 'id');

/**
 * Everything of a user that another user must not be able to change: with `owned`, also the user's
 * records in those collections (json-server-auth's guarded ones, owned by their userId).
 */
async function snapshot(t: TestApp, id: string, owned: readonly string[] = []) {
  const user = await t.services.store.findUserById(id);
  const passwordHash = await t.services.store.getPasswordHash(id);
  const record =
    t.services.documents && t.config.store.type === 'file'
      ? JSON.stringify(
          (
            t.services.documents.data[t.config.store.usersProp] as Record<string, unknown>[] | undefined
          )?.find((entry) => String(entry[userIdProp(t)]) === id),
        )
      : null;
  const records = owned.map((name) =>
    (t.services.documents?.data[name] as Record<string, unknown>[] | undefined)?.filter(
      (entry) => entry.userId === id,
    ),
  );
  return JSON.stringify({ user, passwordHash, record, records });
}

/**
 * The attacker signs up and in through every mounted dialect, as a client
 * would, and keeps each access token (each dialect checks its own claims).
 */
async function attackerSignsIn(t: TestApp): Promise<string[]> {
  const post = async (url: string, body: Record<string, unknown>) => {
    const res = await t.app.inject({ method: 'POST', url, payload: body });
    return res.statusCode < 300 ? (res.json() as Record<string, unknown>) : null;
  };
  const tokens: string[] = [];
  const { gotrue, jsonDataServer } = t.config.dialects;
  if (jsonDataServer.enabled) {
    const registered = await post(jsonDataServer.registerRoute || '/auth/register', {
      username: ATTACKER.username,
      password: ATTACKER.password,
    });
    if (typeof registered?.access_token === 'string') tokens.push(registered.access_token);
  }
  if (t.config.dialects.jsonServerAuth.enabled) {
    // json-server-auth's answer names the token accessToken.
    const registered = await post('/register', { email: ATTACKER.email, password: ATTACKER.password });
    if (typeof registered?.accessToken === 'string') tokens.push(registered.accessToken);
  }
  if (gotrue.enabled) {
    await post(`${gotrue.prefix}/signup`, { email: ATTACKER.email, password: ATTACKER.password });
    const session = await post(`${gotrue.prefix}/token?grant_type=password`, {
      email: ATTACKER.email,
      password: ATTACKER.password,
    });
    if (typeof session?.access_token === 'string') tokens.push(session.access_token);
  }
  assert.ok(tokens.length > 0, 'the attacker could not sign in through any dialect');
  return tokens;
}

const OBJECT_PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join(',');

interface Setup {
  name: string;
  start(): Promise<{ t: TestApp; drop(): Promise<void> }>;
  /** Collections where the victim writes a record of its own (POST with its token) before the attacks. */
  owned?: readonly string[];
  /** Routes the configuration is here to attack ('METHOD /path'): they must be among those found. */
  mounts?: readonly string[];
}

const fast = { passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } };

const setups: Setup[] = [
  {
    name: 'restauth.json on the file store (the embedded default)',
    start: async () => ({
      t: await createTestApp({ format: 'restauth', config: fast }),
      drop: async () => {},
    }),
  },
  {
    name: "json-data-server's config.json",
    start: async () => ({
      t: await createTestApp({
        format: 'json-data-server',
        config: { auth: { passwordSalt: 4 } },
        files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
      }),
      drop: async () => {},
    }),
    // Written by the victim once signed up: a name records already name as owner cannot be registered.
    owned: ['posts'],
  },
  {
    name: "json-server-auth's dialect with a guard of every kind",
    start: async () => ({
      t: await createTestApp({
        format: 'restauth',
        config: {
          ...fast,
          dialects: { jsonServerAuth: { enabled: true } },
          data: {
            enabled: true,
            // json-server-auth's guards (its rewrites) over the victim's records: 600 and 660 are
            // the owner's only, 640 and 644 readable by others, 664 writable by any signed-in user.
            routes: {
              '/secrets*': '/600/secrets$1',
              '/notes*': '/640/notes$1',
              '/posts*': '/644/posts$1',
              '/messages*': '/660/messages$1',
              '/comments*': '/664/comments$1',
            },
          },
        },
        files: {
          'db.json': JSON.stringify({
            // The victim's own records are written by the victim once signed up (owned, below): a name
            // records already name as owner cannot be registered.
            users: [],
            secrets: [],
            notes: [],
            posts: [],
            messages: [],
            comments: [{ id: 1, body: 'a', postId: 1 }],
          }),
        },
      }),
      drop: async () => {},
    }),
    // 664's records any signed-in user may change: not the victim's alone.
    owned: ['secrets', 'notes', 'posts', 'messages'],
    // Its /register, /signup and /login are served under the data API's wildcard (pathFor's collections).
    mounts: ['POST /*', 'GET /*', 'PUT /*', 'PATCH /*', 'DELETE /*'],
  },
  {
    name: 'restauth.json with a generic OIDC provider (oidc-provider, as keycloak) and manual linking on',
    start: async () => {
      const { t, sink, provider } = await startKeycloakApp({
        identities: { manualLinking: true },
        signup: { confirmEmail: false },
      });
      // t is closed by the suite; the SMTP sink and the identity provider here.
      return { t, drop: async () => Promise.all([sink.close(), provider.close()]).then(() => {}) };
    },
    mounts: [
      'GET /auth/v1/authorize',
      'GET /auth/v1/callback',
      'POST /auth/v1/callback',
      'POST /auth/v1/token',
      'GET /auth/v1/user/identities/authorize',
      'DELETE /auth/v1/user/identities/:id',
    ],
  },
  {
    name: 'restauth.json on PostgreSQL, every dialect mounted',
    start: async () => {
      const store = await suiteStore('postgres');
      return {
        t: await createTestApp({
          format: 'restauth',
          // Every dialect at once: postgrest-auth's routes are meant for PostgreSQL.
          config: {
            ...fast,
            ...store.config,
            dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: {} },
          },
        }),
        drop: store.drop,
      };
    },
  },
];

for (const setup of setups) {
  describe(`generated attacks: ${setup.name}`, () => {
    let t: TestApp;
    let drop: () => Promise<void>;
    let victim: User;
    let attackerTokens: string[];
    before(async () => {
      ({ t, drop } = await setup.start());
      victim = (await t.services.auth.signUp(LOCAL_CALL, { ...VICTIM, profile: { bio: 'victim bio' } })).user;
      const { accessToken } = await t.services.auth.signIn(LOCAL_CALL, VICTIM.username, VICTIM.password);
      for (const name of setup.owned ?? []) {
        const res = await t.app.inject({
          method: 'POST',
          url: `/${name}`,
          headers: { authorization: `Bearer ${accessToken}` },
          payload: { text: 'the victim’s own', userId: victim.id },
        });
        assert.equal(res.statusCode, 201, `the victim's record in ${name}: ${res.body}`);
      }
      attackerTokens = await attackerSignsIn(t);
    });
    after(async () => {
      await t?.close();
      await drop?.();
    });

    it('answers every generated request below 500 and changes nobody else', async () => {
      const routes = registeredRoutes(t);
      assert.ok(routes.length > 5, `routes found: ${routes.map((r) => `${r.method} ${r.path}`).join(', ')}`);
      const found = new Set(routes.map((r) => `${r.method} ${r.path}`));
      for (const route of setup.mounts ?? [])
        assert.ok(found.has(route), `${route} is not among ${[...found]}`);
      const before = await snapshot(t, victim.id, setup.owned);
      // Writes reach the stores, so they are drawn four times as often as reads.
      const weighted = routes.flatMap((route) =>
        Array<Route>(route.method === 'GET' || route.method === 'HEAD' ? 1 : 4).fill(route),
      );
      const request = fc.constantFrom(...weighted).chain((route) =>
        fc.record({
          method: fc.constant(route.method),
          path: pathFor(route, victim.id),
          query: queryString,
          body: bodyText(route.path),
          contentType: fc.oneof(
            { weight: 8, arbitrary: fc.constant('application/json') },
            fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', null),
          ),
          authorization: fc.constantFrom(
            ...attackerTokens.map((token) => `Bearer ${token}`),
            'Bearer not.a.token',
            null,
          ),
        }),
      );
      await fc.assert(
        fc.asyncProperty(request, async (req) => {
          const withBody = req.method !== 'GET' && req.method !== 'HEAD';
          const res = await t.app.inject({
            method: req.method,
            url: req.path + req.query,
            headers: {
              ...(req.authorization ? { authorization: req.authorization } : {}),
              ...(withBody && req.contentType ? { 'content-type': req.contentType } : {}),
            },
            ...(withBody ? { payload: req.body } : {}),
          });
          assert.ok(
            res.statusCode < 500,
            `${req.method} ${req.path}${req.query} answered ${res.statusCode}: ${res.body.slice(0, 300)}`,
          );
          assert.equal(await snapshot(t, victim.id, setup.owned), before, 'the victim changed');
          assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(','), OBJECT_PROTOTYPE_KEYS);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    });

    it('answers each route’s own fields, made hostile one by one, below 500 and changes nobody else', async () => {
      const before = await snapshot(t, victim.id, setup.owned);
      const targets = registeredRoutes(t).filter(
        (route) => route.method !== 'GET' && route.method !== 'HEAD' && templateBody(route.path) !== null,
      );
      assert.ok(targets.length > 3, `routes with templates: ${targets.map((r) => r.path).join(', ')}`);
      for (const route of targets) {
        const request = fc.record({
          path: pathFor(route, victim.id),
          query: fc.oneof({ weight: 3, arbitrary: fc.constant('') }, queryString),
          body: templateBody(route.path)!,
          authorization: fc.constantFrom(...attackerTokens.map((token) => `Bearer ${token}`), null),
        });
        await fc.assert(
          fc.asyncProperty(request, async (req) => {
            const res = await t.app.inject({
              method: route.method,
              url: req.path + req.query,
              headers: {
                'content-type': 'application/json',
                ...(req.authorization ? { authorization: req.authorization } : {}),
              },
              payload: req.body,
            });
            assert.ok(
              res.statusCode < 500,
              `${route.method} ${req.path}${req.query} ${req.body.slice(0, 300)} answered ${res.statusCode}: ${res.body.slice(0, 300)}`,
            );
            assert.equal(await snapshot(t, victim.id, setup.owned), before, 'the victim changed');
            assert.equal(
              Object.getOwnPropertyNames(Object.prototype).sort().join(','),
              OBJECT_PROTOTYPE_KEYS,
            );
          }),
          { seed: SEED, numRuns: ROUTE_RUNS },
        );
      }
    });

    it('still serves afterwards: the victim signs in, reads answer', async () => {
      const session = await t.services.auth.signIn(LOCAL_CALL, VICTIM.email, VICTIM.password);
      assert.equal(session.user.id, victim.id);
      const paths = registeredRoutes(t)
        .filter((r) => r.method === 'GET' && !r.path.includes(':'))
        .flatMap((r) =>
          r.path.endsWith('*')
            ? ['db', 'users', 'users?q=a', 'posts', 'posts?q=a&_embed=comments', 'comments?_sort=id'].map(
                (rest) => r.path.slice(0, -1) + rest,
              )
            : [r.path],
        );
      for (const path of paths) {
        const res = await t.app.inject({
          method: 'GET',
          url: path,
          headers: { authorization: `Bearer ${attackerTokens[0]}` },
        });
        assert.ok(res.statusCode < 500, `GET ${path} answered ${res.statusCode} after the attacks`);
      }
    });
  });
}
