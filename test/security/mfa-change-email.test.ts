import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { serviceTokenOf } from '../support/service-token.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * A GoTrue user protected by a verified TOTP factor (an adopted GoTrue database): restauth opens it no
 * session and changes its password on no current password alone (insufficient_aal), as GoTrue asks an
 * aal2 session to change its email or password. postgrest-auth's change_email, mounted beside GoTrue,
 * needed only the password: a thief of the password (not of the second factor) moved the account's
 * address to their own, and with it every mail, recovery included. Refused now, in both of its modes.
 */
const PASSWORD = 'correct horse battery';
const OWNER = 'owner@example.com';

for (const confirmEmail of [false, true]) {
  describe(`postgrest-auth change_email of an MFA-protected account (confirmEmail ${confirmEmail})`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let db: pg.Pool;

    before(async () => {
      store = await suiteStore('postgres');
      sink = await startSmtpSink();
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: FAST_HASHING,
          email: sinkMailSettings(sink),
          signup: { confirmEmail },
          dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
        },
      });
      db = new pg.Pool({ connectionString: store.config.store!.url, max: 2 });
    });
    after(async () => {
      await db?.end();
      await t?.close();
      await sink?.close();
      await store?.drop();
    });

    it('refuses to move the address on the password alone, as it refuses the password change', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/admin/users',
        headers: { authorization: `Bearer ${await serviceTokenOf(t)}` },
        payload: { email: OWNER, password: PASSWORD, email_confirm: true },
      });
      assert.equal(created.statusCode, 200, created.body);
      const id = created.json<{ id: string }>().id;
      await db.query(
        `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
         VALUES ($1, $2, 'phone', 'totp', 'verified', now(), now(), 'JBSWY3DPEHPK3PXP')`,
        [randomUUID(), id],
      );
      const mailsBefore = sink.mails.length;

      const moved = await t.app.inject({
        method: 'POST',
        url: '/pg/change_email',
        payload: { username: OWNER, password: PASSWORD, email: 'attacker@evil.example' },
      });
      assert.equal(moved.statusCode, 400, moved.body);
      assert.equal(moved.json<{ error: string }>().error, 'insufficient_aal');
      const { rows } = await db.query<{ email: string; email_change: string | null }>(
        'SELECT email, email_change FROM auth.users WHERE id = $1',
        [id],
      );
      assert.equal(rows[0]!.email, OWNER, 'the address stays');
      assert.ok(!rows[0]!.email_change, 'no change is pending');
      assert.equal(sink.mails.length, mailsBefore, 'nothing is mailed');
    });
  });
}
