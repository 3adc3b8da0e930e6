import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { durableCredentials, durableData } from '../support/durable.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';

type Json = Record<string, unknown>;

async function call(t: TestApp, method: 'POST' | 'PUT', url: string, body: unknown) {
  const response = await t.app.inject({ method, url, payload: body as Json });
  return { status: response.statusCode, json: response.json() as Json };
}

/** A file of the store as a restart would read it: the file and its journal's acknowledged writes. */
const readJson = async (dir: string, name: 'db.json' | 'credentials.json') =>
  (name === 'db.json' ? durableData : durableCredentials)(join(dir, name)) as Promise<Json>;

/**
 * The file store's user ids and profiles come from clients: a user id is
 * whatever json-data-server's userIdRE allows (`.*`), a GoTrue profile is any
 * JSON. These attacks (issue 10, findings 1 and 2) run over HTTP on real files,
 * with every dialect mounted and mail over real SMTP.
 */
describe('file store: client strings as ids and profile fields', () => {
  let sink: SmtpSink;
  let dir: string;
  const config = () => ({
    passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
    signup: { confirmEmail: false },
    dialects: {
      jsonDataServer: { enabled: true },
      postgrestAuth: { enabled: true },
      gotrue: { enabled: true },
    },
    email: sinkMailSettings(sink, 'auth@corp.test'),
  });
  const objectPrototypeKeys = Object.getOwnPropertyNames(Object.prototype);

  before(async () => {
    sink = await startSmtpSink();
  });
  after(() => sink.close());

  it('a user named __proto__ is an ordinary user: kept across a restart, never a way into another account', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-proto-'));
    let t = await createTestApp({ format: 'restauth', config: config(), dir });
    try {
      const victim = await call(t, 'POST', '/auth/register', {
        username: 'victim',
        password: 'victim-pass-1',
      });
      assert.equal(victim.status, 200);
      const attacker = await call(t, 'POST', '/auth/register', {
        username: '__proto__',
        password: 'attacker-pass-1',
        email: 'mallory@evil.test',
      });
      assert.equal(attacker.status, 200);
      // On a plain object `accounts["__proto__"] = ...` replaced the map's prototype: nothing was written.
      const accounts = (await readJson(dir, 'credentials.json')).accounts as Json;
      assert.ok(Object.hasOwn(accounts, '__proto__'), 'the account of __proto__ is in credentials.json');

      await t.close();
      t = await createTestApp({ format: 'restauth', config: config(), dir });

      const login = await call(t, 'POST', '/auth/login', {
        username: '__proto__',
        password: 'attacker-pass-1',
      });
      assert.equal(login.status, 200, 'the user signs in after a restart');
      const changed = await call(t, 'POST', '/auth/change_email', {
        username: '__proto__',
        password: 'attacker-pass-1',
        email: 'mallory2@evil.test',
      });
      assert.equal(changed.status, 200);
      assert.deepEqual(
        Object.getOwnPropertyNames(Object.prototype).filter((name) => !objectPrototypeKeys.includes(name)),
        [],
        'nothing was written to Object.prototype',
      );
      assert.equal((await t.services.store.findUserById('victim'))?.email, null);

      // The victim has no address: no reset token exists, so none can reach anyone.
      assert.equal((await call(t, 'POST', '/auth/forgot_password', { username: 'victim' })).status, 200);
      assert.equal(await t.services.store.findOneTimeToken('victim', 'recovery', new Date()), null);
      // The attacker's own reset goes to the attacker's own (new) address, about the attacker's own account.
      assert.equal((await call(t, 'POST', '/auth/forgot_password', { username: '__proto__' })).status, 200);
      const mail = await sink.waitForMail((m) => m.to === 'mallory2@evil.test', 10_000);
      assert.match(mail.text, /__proto__/);
      assert.doesNotMatch(mail.text, /victim/);
    } finally {
      for (const name of Object.getOwnPropertyNames(Object.prototype)) {
        if (!objectPrototypeKeys.includes(name)) delete (Object.prototype as Json)[name];
      }
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
  it("a GoTrue profile naming another user's id or an address changes nothing of that user (sign-up and /otp)", async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-profile-id-'));
    const t = await createTestApp({ format: 'restauth', config: config(), dir });
    try {
      // A json-data-server user without an address: recovery by user name finds no address to use.
      const victim = await call(t, 'POST', '/auth/register', {
        username: 'victim',
        password: 'victim-pass-1',
      });
      assert.equal(victim.status, 200);
      const before = structuredClone((await readJson(dir, 'db.json')).users);
      const signup = await call(t, 'POST', '/auth/v1/signup', {
        email: 'mallory@evil.test',
        password: 'attacker-pass-1',
        data: { id: 'victim', email: 'mallory@evil.test', role: 'service_role', nickname: 'm' },
      });
      assert.equal(signup.status, 200);
      const otp = await call(t, 'POST', '/auth/v1/otp', {
        email: 'mallory3@evil.test',
        create_user: true,
        data: { id: 'victim', email: 'mallory3@evil.test' },
      });
      assert.equal(otp.status, 200);

      const users = (await readJson(dir, 'db.json')).users as Json[];
      assert.deepEqual(
        users.filter((record) => record.id === 'victim'),
        before,
        'the victim has one record, unchanged',
      );
      const attacker = users.find((record) => record.nickname === 'm');
      assert.ok(attacker && attacker.id !== 'victim', "the attacker's record has the attacker's own id");
      assert.equal(attacker.email, undefined, 'no identity field in the public record');
      assert.equal(attacker.role, undefined);
      const stored = await t.services.store.findUserById('victim');
      assert.equal(stored?.email, null, "the victim's address is credentials.json's: none");

      assert.equal((await call(t, 'POST', '/auth/forgot_password', { username: 'victim' })).status, 200);
      assert.equal(await t.services.store.findOneTimeToken('victim', 'recovery', new Date()), null);
      // The attacker's own recovery mail still goes out, to the attacker, about the attacker.
      assert.equal(
        (await call(t, 'POST', '/auth/forgot_password', { username: 'mallory@evil.test' })).status,
        200,
      );
      const mail = await sink.waitForMail(
        (m) => m.to === 'mallory@evil.test' && /reset/i.test(m.subject),
        10_000,
      );
      assert.doesNotMatch(mail.text, /victim/);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
