import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { restauthSchemaName } from '../../src/stores/postgres/migrations.js';
import { useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { usersWhere, whileRefused, withDba } from '../support/refused-writes.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * A sign-up writes the user, its identity and, where it signs in at once, its first session: a fault
 * on any of these writes must leave no user behind, or the retry its 503 asks for answers 422
 * user_already_exists for good. GoTrue's autoconfirm sign-up committed its user, then signed it in
 * apart, and did just that. The fault is a trigger the test adds on the table, raising disk_full
 * (53100) on each insert, as a full disk would refuse that write alone. The anonymous, mailed,
 * json-data-server and postgrest-auth cases already wrote all at once: they guard that they still do.
 */
describe(
  'a sign-up that fails half-way leaves no half-made account (PostgreSQL)',
  // The DBA's connection beside the app's pool (see postgres-schema-changed): a real server only.
  { skip: realServerOnly() ?? false },
  () => {
    const t = useFaultApp({ config: () => ({ signup: { confirmEmail: false, anonymousUsers: true } }) });

    it('GoTrue /signup without confirmation: 503 during the fault, nothing left, the retry answers 200', async () => {
      const email = 'half@acme.test';
      const during = await whileRefused(t.url, 'INSERT', 'auth.sessions', () => t.signUp(email));
      assert.equal(during.statusCode, 503, during.body);
      assert.equal(during.json().error_code, 'store_unavailable');
      assert.equal(await usersWhere(t.url, 'email = $1', email), 0, 'no user is left by the failed sign-up');

      const retried = await t.signUp(email);
      assert.equal(retried.statusCode, 200, retried.body);
      const answer = retried.json();
      assert.equal(answer.user.email, email);
      assert.ok(answer.access_token);
      // The session is still a sign-in: the user's last_sign_in_at is its time, as GoTrue's.
      assert.ok(answer.user.last_sign_in_at, retried.body);
      assert.ok(Date.parse(answer.user.last_sign_in_at) >= Date.parse(answer.user.created_at), retried.body);
      const signIn = await t.app.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password: 'correct horse battery' },
      });
      assert.equal(signIn.statusCode, 200, signIn.body);
    });

    it('an anonymous sign-in: 503 during the fault and no anonymous user left behind', async () => {
      const anonymous = () => usersWhere(t.url, 'is_anonymous');
      const before = await anonymous();
      const during = await whileRefused(t.url, 'INSERT', 'auth.sessions', () =>
        t.app.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: { data: { n: 1 } } }),
      );
      assert.equal(during.statusCode, 503, during.body);
      assert.equal(await anonymous(), before);
      const retried = await t.app.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: {} });
      assert.equal(retried.statusCode, 200, retried.body);
      assert.equal(await anonymous(), before + 1);
    });

    it('an administrator creating a banned user: banned in its insert, never an unbanned user after a 503', async () => {
      const email = 'banned@acme.test';
      const serviceRole = await t.app.services.tokens.signRoleToken('service_role', 3600, new Date());
      // Any later write of the user fails: the ban must not be one.
      const created = await whileRefused(t.url, 'UPDATE', 'auth.users', () =>
        t.app.app.inject({
          method: 'POST',
          url: '/auth/v1/admin/users',
          headers: { authorization: `Bearer ${serviceRole}` },
          payload: { email, password: 'correct horse battery', email_confirm: true, ban_duration: '24h' },
        }),
      );
      assert.equal(created.statusCode, 200, created.body);
      assert.ok(created.json().banned_until, created.body);
      assert.equal(await usersWhere(t.url, 'email = $1 AND banned_until > now()', email), 1);
      const signIn = await t.app.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password: 'correct horse battery' },
      });
      assert.equal(signIn.statusCode, 400, signIn.body);
      assert.equal(signIn.json().error_code, 'user_banned');
    });

    it("an administrator's signup link: 503 when its token cannot be stored, no user left, the retry answers 200", async () => {
      const email = 'linked@acme.test';
      const serviceRole = await t.app.services.tokens.signRoleToken('service_role', 3600, new Date());
      const generate = () =>
        t.app.app.inject({
          method: 'POST',
          url: '/auth/v1/admin/generate_link',
          headers: { authorization: `Bearer ${serviceRole}` },
          payload: { type: 'signup', email, password: 'correct horse battery' },
        });
      const during = await whileRefused(t.url, 'INSERT', 'auth.one_time_tokens', generate);
      assert.equal(during.statusCode, 503, during.body);
      assert.equal(await usersWhere(t.url, 'email = $1', email), 0, 'no user is left by the failed link');
      const retried = await generate();
      assert.equal(retried.statusCode, 200, retried.body);
      assert.equal(retried.json().email, email);
    });
  },
);

describe(
  'a mailed sign-up whose confirmation mail could not be queued can ask again (PostgreSQL)',
  { skip: realServerOnly() ?? false },
  () => {
    let sink: SmtpSink;
    before(async () => {
      sink = await startSmtpSink();
    });
    after(() => sink?.close());
    const db = useFaultApp({
      config: () => ({
        email: sinkMailSettings(sink),
        signup: { confirmEmail: true },
        siteUrl: 'https://app.test',
        dialects: { gotrue: {} },
      }),
    });

    const confirmationTokens = (email: string) =>
      withDba(db.url, async (dba) => {
        const { rows } = await dba.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM auth.one_time_tokens WHERE relates_to = $1',
          [email],
        );
        return rows[0]!.n;
      });

    it('the token and its mail are refused together; the same sign-up again mails the confirmation', async () => {
      const email = 'mailed@acme.test';
      const outbox = `${restauthSchemaName('auth')}.mail_outbox`;
      const during = await whileRefused(db.url, 'INSERT', outbox, async () => {
        const answer = await db.signUp(email);
        // The mail is queued after the answer (registerToConfirm): wait for it inside the fault.
        await db.app.services.idle();
        return answer;
      });
      assert.equal(during.statusCode, 200, during.body);
      // No confirmation token stands without its mail: the resend throttle counts nothing.
      assert.equal(await confirmationTokens(email), 0);

      const again = await db.signUp(email);
      assert.equal(again.statusCode, 200, again.body);
      await db.app.services.idle();
      const mail = await sink.waitForMail((m) => m.to === email, 60_000);
      assert.match(mail.text, /verify|confirm/iu);
      assert.equal(await usersWhere(db.url, 'email = $1', email), 1);
      assert.equal(await confirmationTokens(email), 1);
    });
  },
);

describe(
  "json-data-server's /auth/register and postgrest-auth's /auth/users: a failed first session leaves no user (PostgreSQL)",
  { skip: realServerOnly() ?? false },
  () => {
    const db = useFaultApp({
      config: () => ({
        dialects: { jsonDataServer: {}, postgrestAuth: { enabled: true } },
      }),
    });
    const routes = [
      { url: '/auth/register', username: 'registered', created: 200 },
      { url: '/auth/users', username: 'posted', created: 201 },
    ];
    for (const route of routes) {
      it(`${route.url}: 503 during the fault, no user left, the same name signs up after`, async () => {
        const signUpThere = () =>
          db.app.app.inject({
            method: 'POST',
            url: route.url,
            payload: { username: route.username, password: 'correct horse battery' },
          });
        const during = await whileRefused(db.url, 'INSERT', 'auth.sessions', signUpThere);
        assert.equal(during.statusCode, 503, during.body);
        const accounts = () =>
          withDba(db.url, async (dba) => {
            const { rows } = await dba.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM ${restauthSchemaName('auth')}.accounts WHERE username = $1`,
              [route.username],
            );
            return rows[0]!.n;
          });
        assert.equal(await accounts(), 0);
        const retried = await signUpThere();
        assert.equal(retried.statusCode, route.created, retried.body);
        assert.equal(await accounts(), 1);
      });
    }
  },
);
