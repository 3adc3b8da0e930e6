import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';

/**
 * Password guessing at one account from many clients: each guess comes from an address of its own
 * (a botnet, or the /64s of one IPv6 /48), so the per-client sign-in limit never trips, and the
 * guesses go round every dialect's login route and spell the login differently. The account's own
 * budget of wrong passwords (`rateLimits.passwordGuesses`, 3 here) is shared by all of them: past
 * it the account's checks answer 429, the right password too, except from a client that signed the
 * account in before (the owner's). Right passwords never spend it, however many arrive at once.
 */

const PASSWORD = 'a long passphrase';
const GUESSES = 3;

async function startApp(store?: object, clockStoppedAt = Date.now()): Promise<TestApp> {
  return createTestApp({
    format: 'restauth',
    // The window ends only when the test advances the clock, however slow its steps.
    clockStoppedAt,
    config: {
      ...(store ? { store } : {}),
      metrics: { enabled: true },
      passwords: FAST_HASHING,
      rateLimits: { signIn: { max: 2, window: 60 }, passwordGuesses: { max: GUESSES, window: 900 } },
      dialects: {
        gotrue: {},
        jsonDataServer: {},
        jsonServerAuth: { enabled: true },
        postgrestAuth: { enabled: true, prefix: '/pg' },
      },
    },
    env: { RESTAUTH_RATE_LIMITS: '' },
  });
}

/** A password check of `login` on each dialect's route, in turn. */
const routes: Array<(login: string, password: string) => InjectOptions> = [
  (email, password) => ({
    method: 'POST',
    url: '/auth/v1/token?grant_type=password',
    payload: { email, password },
  }),
  (username, password) => ({ method: 'POST', url: '/auth/login', payload: { username, password } }),
  (email, password) => ({ method: 'POST', url: '/login', payload: { email, password } }),
  (email, password) => ({ method: 'POST', url: '/signin', payload: { email, password } }),
  (username, password) => ({
    method: 'POST',
    url: '/auth/password',
    payload: { username, password, newpassword: 'a new long passphrase' },
  }),
  (username, password) => ({ method: 'POST', url: '/pg/refresh_token', payload: { username, password } }),
  (username, password) => ({
    method: 'POST',
    url: '/pg/change_email',
    payload: { username, password, email: 'elsewhere@acme.test' },
  }),
];

/** Another client each time: a /64 of its own in one /48. */
let clients = 0;
const nextClient = () => `2001:db8:7:${(++clients).toString(16)}::1`;

/** Registers an account through `url` from a client of its own. */
async function register(app: TestApp, url: string, payload: object, status: number): Promise<void> {
  const answer = await app.app.inject({ method: 'POST', url, remoteAddress: nextClient(), payload });
  assert.equal(answer.statusCode, status, answer.body);
}

/** A refused password: each dialect says so in its own words, none with 429. */
function assertWrong(answer: { statusCode: number; body: string }, what: string): void {
  assert.ok([400, 401, 403].includes(answer.statusCode), `${what}: ${answer.statusCode} ${answer.body}`);
}

describe('password guesses at one account, from many clients and every dialect', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function attempt(route: number, login: string, password: string, app = t!, from = nextClient()) {
    return app.app.inject({ ...routes[route % routes.length]!(login, password), remoteAddress: from });
  }

  it('share one budget per account: past it every route answers 429, the right password too', async () => {
    t = await startApp();
    await register(t, '/auth/v1/signup', { email: 'victim@acme.test', password: PASSWORD }, 200);
    const spellings = ['victim@acme.test', 'VICTIM@acme.test', 'Victim@ACME.test'];
    for (let i = 0; i < GUESSES; i++) {
      assertWrong(await attempt(i, spellings[i % spellings.length]!, `guess number ${i}`), `guess ${i}`);
    }
    for (let route = 0; route < routes.length; route++) {
      const refused = await attempt(route, 'victim@acme.test', `guess on route ${route}`);
      assert.equal(refused.statusCode, 429, `route ${route}: ${refused.body}`);
      assert.ok(Number(refused.headers['retry-after']) > 60, `route ${route}: the account's window`);
      const right = await attempt(route, 'Victim@acme.test', PASSWORD);
      assert.equal(right.statusCode, 429, `route ${route}, the right password: ${right.body}`);
    }
    const refusals = await t.services
      .metrics!.registry.getSingleMetric('restauth_rate_limit_refusals_total')!
      .get();
    const counted = refusals.values.find((sample) => sample.labels['family'] === 'passwordGuesses');
    assert.equal(counted?.value, 2 * routes.length, 'each refusal is counted for the operator');
    t.advance(900_000);
    assert.equal((await attempt(0, 'victim@acme.test', PASSWORD)).statusCode, 200, 'a new window');
  });

  it('a login no account has is refused alike, so the 429 tells nobody an account exists', async () => {
    t = await startApp();
    await register(t, '/auth/v1/signup', { email: 'known@acme.test', password: PASSWORD }, 200);
    const answers = async (login: string) => {
      const seen = [];
      for (let i = 0; i <= GUESSES; i++) {
        const answer = await attempt(0, i === GUESSES ? login.toUpperCase() : login, `guess ${i}`);
        seen.push({
          status: answer.statusCode,
          body: answer.body,
          retryAfter: answer.headers['retry-after'],
        });
      }
      return seen;
    };
    const unknown = await answers('nobody@acme.test');
    assert.deepEqual(unknown.at(-1)?.status, 429, JSON.stringify(unknown));
    assert.deepEqual(await answers('known@acme.test'), unknown);
    assert.equal((await attempt(0, 'somebody@acme.test', 'one more')).statusCode, 400, 'another login');
  });

  /**
   * bob's user name spent, his address answers as a login no account has (a 429 there would tell
   * they are one account's), while his password is still checked no more and his known client
   * still signs in by either login.
   */
  async function oneAccountTwoLogins(app: TestApp): Promise<void> {
    const home = '2001:db8:200:1::10';
    await register(app, '/pg/users', { username: 'bob', password: PASSWORD, email: 'bob@acme.test' }, 201);
    assert.equal((await attempt(5, 'bob', PASSWORD, app, home)).statusCode, 200, 'bob signs in once');
    for (let i = 0; i < GUESSES; i++) assertWrong(await attempt(5, 'bob', `guess ${i}`, app), `guess ${i}`);
    assert.equal((await attempt(5, 'bob', PASSWORD, app)).statusCode, 429, 'his user name is spent');
    // His account is spent too: the right password by his address is no more checked, but answered
    // as a wrong one, as an unknown login's is.
    assertWrong(await attempt(0, 'bob@acme.test', PASSWORD, app), 'the right password, another login');
    assertWrong(await attempt(0, 'nobody@acme.test', PASSWORD, app), 'a login no account has');
    assert.equal((await attempt(0, 'bob@acme.test', PASSWORD, app, home)).statusCode, 200, 'his own client');
    const answers = async (login: string) => {
      const seen = [];
      for (let i = 1; i <= GUESSES; i++) {
        const answer = await attempt(0, login, `guess ${i}`, app);
        seen.push({ status: answer.statusCode, retryAfter: answer.headers['retry-after'] });
      }
      return seen;
    };
    const unknown = await answers('nobody@acme.test');
    assert.equal(unknown.at(-1)?.status, 429, JSON.stringify(unknown));
    assert.deepEqual(await answers('bob@acme.test'), unknown);
  }

  it("an account's other login answers as a login no account has: no 429 ties it to a spent one", async () => {
    t = await startApp();
    await oneAccountTwoLogins(t);
  });

  it(
    "an account's other login answers as an unknown one on PostgreSQL too",
    { skip: realServerOnly() ?? false },
    async () => {
      const server = await testPostgres();
      const url = await server.createDatabase();
      try {
        t = await startApp(testStoreConfig(url));
        await oneAccountTwoLogins(t);
      } finally {
        await t?.close();
        t = undefined;
        await dropDatabase(server.url, url);
      }
    },
  );

  it("a burst at a login no account has waits for its checks as an account's would", async () => {
    t = await startApp();
    await register(t, '/auth/v1/signup', { email: 'held@acme.test', password: PASSWORD }, 200);
    // Every hash waits until released: an answer arriving meanwhile did not wait for one.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const hasher = t.services.hasher;
    const [verify, verifyDummy] = [hasher.verify.bind(hasher), hasher.verifyDummy.bind(hasher)];
    hasher.verify = async (password, hash) => (await held, verify(password, hash));
    hasher.verifyDummy = async (password) => (await held, verifyDummy(password));
    const burst = (login: string) => {
      const answered: number[] = [];
      const all = Promise.all(
        Array.from({ length: GUESSES + 2 }, (_, i) =>
          attempt(i, login, `guess ${i}`).then((answer) => answered.push(answer.statusCode)),
        ),
      );
      return { answered, all };
    };
    const known = burst('held@acme.test');
    const unknown = burst('nobody@acme.test');
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([known.answered, unknown.answered], [[], []], 'nothing answered before a hash');
    release();
    await Promise.all([known.all, unknown.all]);
    assert.deepEqual(known.answered.sort(), unknown.answered.sort());
  });

  it("postgrest-auth's change_password with current_password spends the same budget", async () => {
    t = await startApp();
    await register(t, '/pg/users', { username: 'held', password: PASSWORD }, 201);
    const change = (current: string) =>
      t!.app.inject({
        method: 'POST',
        url: '/pg/change_password',
        remoteAddress: nextClient(),
        payload: {
          username: 'held',
          current_password: current,
          new_password: 'another long passphrase',
          new_password_confirm: 'another long passphrase',
        },
      });
    for (let i = 0; i < GUESSES; i++) assertWrong(await change(`guess ${i}`), `guess ${i}`);
    assert.equal((await change(PASSWORD)).statusCode, 429);
    assert.equal((await attempt(1, 'held', PASSWORD)).statusCode, 429, 'one budget with sign-in');
  });

  it('right passwords arriving all at once all sign in: only wrong ones spend the budget', async () => {
    t = await startApp();
    await register(t, '/auth/v1/signup', { email: 'service@acme.test', password: PASSWORD }, 200);
    assertWrong(await attempt(0, 'service@acme.test', 'one typo'), 'a typo');
    const burst = await Promise.all(
      Array.from({ length: 16 }, (_, i) => attempt(i % 2 === 0 ? 0 : 5, 'service@acme.test', PASSWORD)),
    );
    assert.deepEqual(
      burst.map((answer) => answer.statusCode),
      burst.map(() => 200),
    );
  });

  it('a burst of guesses gets no more checks than the account has wrong passwords left', async () => {
    t = await startApp();
    await register(t, '/auth/v1/signup', { email: 'burst@acme.test', password: PASSWORD }, 200);
    const burst = await Promise.all(
      Array.from({ length: 24 }, (_, i) => attempt(i, 'burst@acme.test', `guess ${i}`)),
    );
    const refused = burst.filter((answer) => answer.statusCode === 429).length;
    assert.equal(burst.length - refused, GUESSES, burst.map((answer) => answer.statusCode).join(' '));
  });

  it('the owner signs in from a client that signed the account in before, during the attack', async () => {
    t = await startApp();
    const home = '2001:db8:100:1::10';
    await register(t, '/auth/v1/signup', { email: 'owner@acme.test', password: PASSWORD }, 200);
    assert.equal((await attempt(0, 'owner@acme.test', PASSWORD, t, home)).statusCode, 200, 'signed in once');
    for (let i = 0; i < 2 * GUESSES; i++) await attempt(i, 'owner@acme.test', `guess ${i}`);
    assert.equal((await attempt(0, 'owner@acme.test', PASSWORD)).statusCode, 429, 'a new client');
    // Another address of the same /64 (a privacy address), on another dialect.
    const again = await attempt(5, 'OWNER@acme.test', PASSWORD, t, '2001:db8:100:1::77');
    assert.equal(again.statusCode, 200, again.body);
    t.advance(60_000); // the home /64's own sign-in window (2 a minute here), not the account's
    assertWrong(await attempt(0, 'owner@acme.test', 'a typo', t, home), 'the owner mistyping: no 429');
  });

  // Two instances on PGlite share its one session (see test/http/rate-limit.test.ts): a real server only.
  it(
    'on PostgreSQL the budget and the known clients are shared by every instance on the database',
    { skip: realServerOnly() ?? false },
    async () => {
      const server = await testPostgres();
      const url = await server.createDatabase();
      const clockStoppedAt = Date.now();
      t = await startApp(testStoreConfig(url), clockStoppedAt);
      const second = await startApp(testStoreConfig(url), clockStoppedAt);
      try {
        const home = '192.0.2.44';
        await register(t, '/auth/v1/signup', { email: 'shared@acme.test', password: PASSWORD }, 200);
        assert.equal((await attempt(0, 'shared@acme.test', PASSWORD, t, home)).statusCode, 200);
        for (let i = 0; i < GUESSES; i++) {
          const app: TestApp = i % 2 === 0 ? t : second;
          assert.equal((await attempt(0, 'shared@acme.test', `guess ${i}`, app)).statusCode, 400);
        }
        assert.equal((await attempt(0, 'shared@acme.test', PASSWORD, second)).statusCode, 429);
        assert.equal((await attempt(1, 'shared@acme.test', PASSWORD, t)).statusCode, 429);
        const owner = await attempt(0, 'shared@acme.test', PASSWORD, second, `::ffff:${home}`);
        assert.equal(owner.statusCode, 200, `the known client, on the other instance: ${owner.body}`);
      } finally {
        await second.close();
        await t.close();
        t = undefined;
        await dropDatabase(server.url, url);
      }
    },
  );
});
