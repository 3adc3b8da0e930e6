import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { GoTrueAdminApi } from '@supabase/auth-js';
import { adminClient, FAST_HASHING, gotrueClient } from '../support/gotrue.js';
import { listeningAppOnStore } from '../support/mailing-app-on-store.js';
import { queryOnce, verifiedTotpFactor } from '../support/mfa-factors.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * An adopted GoTrue database's users may hold MFA factors (auth.mfa_factors). restauth asks no second
 * factor, so a user with a verified one is refused every session (403 insufficient_aal), and the
 * operator's way out was SQL: GoTrue's admin factor routes listed [] and answered every delete
 * mfa_factor_not_found. They now read and delete the table's rows, in GoTrue's factor object, and
 * the deletion is audit-logged; the user signs in again at aal1. Real PostgreSQL, the real auth-js
 * (its admin.mfa API) over HTTP.
 *
 * GoTrue's admin factor update (PUT: a friendly_name, a phone factor's phone) was refused as
 * mfa_factor_not_found, even for a factor that exists; and the admin user object had no `factors`
 * array, which GoTrue's has (omitempty), so auth-js's admin.getUserById showed none. Both are GoTrue's
 * now. auth-js has no update method: that PUT goes over real HTTP with fetch, as its requests do.
 */
const PASSWORD = 'a long passphrase 7';

describe("admin factor routes on an adopted GoTrue database's factors (postgres store)", () => {
  const app = listeningAppOnStore('postgres', { passwords: FAST_HASHING });
  let admin: GoTrueAdminApi;
  let serviceToken: string;

  before(async () => {
    serviceToken = await serviceTokenOf(app.t);
    admin = adminClient(app.url, serviceToken);
  });

  /** A user with a verified TOTP factor, as GoTrue's enroll and first verify leave it. */
  async function userWithFactor(email: string): Promise<{ userId: string; factorId: string }> {
    const { data, error } = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(error, null);
    const factorId = await verifiedTotpFactor(app.store.config, data.user!.id, {
      createdAt: '2026-01-02T03:04:05Z',
      updatedAt: '2026-01-02T03:04:06Z',
    });
    return { userId: data.user!.id, factorId };
  }

  const signIn = (email: string) =>
    gotrueClient(app.url).client.signInWithPassword({ email, password: PASSWORD });

  it('lists the factor in GoTrue’s shape; its deletion lets the user sign in, and is audit-logged', async () => {
    const { userId, factorId } = await userWithFactor('fern@acme.test');
    const refused = await signIn('fern@acme.test');
    assert.equal((refused.error as { code?: string } | null)?.code, 'insufficient_aal');

    const listed = await admin.mfa.listFactors({ userId });
    assert.equal(listed.error, null);
    assert.deepEqual(listed.data!.factors, [
      {
        id: factorId,
        created_at: '2026-01-02T03:04:05.000Z',
        updated_at: '2026-01-02T03:04:06.000Z',
        status: 'verified',
        friendly_name: 'phone app',
        factor_type: 'totp',
        phone: '',
        last_challenged_at: null,
      },
    ]);

    const deleted = await admin.mfa.deleteFactor({ userId, id: factorId });
    assert.equal(deleted.error, null);
    // auth-js hands the answer on wrapped once more ({ data: factor, error }): its request has no xform.
    assert.equal((deleted.data as unknown as { data: { id: string } }).data.id, factorId);
    const { rows } = await queryOnce(app.store.config, 'SELECT 1 FROM auth.mfa_factors WHERE id = $1', [
      factorId,
    ]);
    assert.equal(rows.length, 0);
    assert.deepEqual((await admin.mfa.listFactors({ userId })).data!.factors, []);

    const signedIn = await signIn('fern@acme.test');
    assert.equal(signedIn.error, null);
    assert.equal(signedIn.data.session!.user.id, userId);

    const { events } = await app.t.services.store.listAuditEvents({ page: 1, perPage: 50, userId });
    const logged = events.filter((event) => event.action === 'admin_factor_deleted');
    assert.equal(logged.length, 1);
    assert.deepEqual(logged[0]!.data, { factor_id: factorId, factor_type: 'totp', status: 'verified' });
  });

  it("refuses another user's factor, and a factor id that is not a UUID: 404 mfa_factor_not_found, nothing deleted", async () => {
    const owner = await userWithFactor('gale@acme.test');
    const other = await userWithFactor('hale@acme.test');
    const wrongUser = await admin.mfa.deleteFactor({ userId: other.userId, id: owner.factorId });
    assert.equal(wrongUser.error?.status, 404);
    assert.equal((wrongUser.error as { code?: string } | null)?.code, 'mfa_factor_not_found');
    // auth-js checks the id is a UUID before sending: another client may send anything.
    const notUuid = await app.t.app.inject({
      method: 'DELETE',
      url: `/auth/v1/admin/users/${other.userId}/factors/not-a-factor`,
      headers: { authorization: `Bearer ${serviceToken}` },
    });
    assert.equal(notUuid.statusCode, 404, notUuid.body);
    assert.equal(notUuid.json<{ error_code: string }>().error_code, 'mfa_factor_not_found');
    const { rows } = await queryOnce(
      app.store.config,
      'SELECT id::text FROM auth.mfa_factors WHERE user_id = $1',
      [owner.userId],
    );
    assert.deepEqual(rows, [{ id: owner.factorId }]);
  });

  async function newUser(email: string): Promise<string> {
    const { data, error } = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(error, null);
    return data.user!.id;
  }

  /** A factor of `type` as GoTrue's enroll writes it, named `name`. */
  async function factor(userId: string, type: 'totp' | 'phone', name: string, phone?: string) {
    const id = randomUUID();
    await queryOnce(
      app.store.config,
      `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, phone)
       VALUES ($1, $2, $3, $4, 'unverified', '2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z', $5)`,
      [id, userId, name, type, phone ?? null],
    );
    return id;
  }

  const put = (userId: string, factorId: string, body: Record<string, unknown>) =>
    fetch(`${app.url}/admin/users/${userId}/factors/${factorId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const namesOf = async (userId: string) =>
    (
      await queryOnce(
        app.store.config,
        'SELECT friendly_name, phone FROM auth.mfa_factors WHERE user_id = $1 ORDER BY friendly_name',
        [userId],
      )
    ).rows;

  it('admin.getUserById shows the factors, as GoTrue; a user without any has no `factors` key', async () => {
    const userId = await newUser('ana@acme.test');
    const factorId = await verifiedTotpFactor(app.store.config, userId);
    const { data, error } = await admin.getUserById(userId);
    assert.equal(error, null);
    assert.deepEqual(
      data.user?.factors?.map(({ id, status, friendly_name, factor_type }) => ({
        id,
        status,
        friendly_name,
        factor_type,
      })),
      [{ id: factorId, status: 'verified', friendly_name: 'phone app', factor_type: 'totp' }],
    );
    const updated = await admin.updateUserById(userId, { user_metadata: { plan: 'pro' } });
    assert.equal(updated.data.user?.factors?.[0]?.id, factorId);

    const without = await admin.getUserById(await newUser('bea@acme.test'));
    assert.equal(without.error, null);
    assert.equal('factors' in without.data.user!, false);
  });

  it('renames a factor: the answer and the row carry the new name, updated_at moves, and it is audit-logged', async () => {
    const userId = await newUser('cas@acme.test');
    const factorId = await factor(userId, 'totp', 'old phone');
    const answer = await put(userId, factorId, { friendly_name: 'new phone' });
    assert.equal(answer.status, 200, await answer.clone().text());
    const renamed = (await answer.json()) as Record<string, unknown>;
    assert.equal(renamed['id'], factorId);
    assert.equal(renamed['friendly_name'], 'new phone');
    assert.notEqual(renamed['updated_at'], '2026-01-02T03:04:05.000Z');
    assert.deepEqual(await namesOf(userId), [{ friendly_name: 'new phone', phone: null }]);
    const listed = await admin.mfa.listFactors({ userId });
    assert.equal(listed.data?.factors[0]?.friendly_name, 'new phone');

    const { events } = await app.t.services.store.listAuditEvents({ page: 1, perPage: 50, userId });
    const logged = events.filter((event) => event.action === 'admin_factor_updated');
    assert.deepEqual(
      logged.map((event) => event.data),
      [{ factor_id: factorId, factor_type: 'totp' }],
    );
  });

  it("a name another of the user's factors has: 422 mfa_factor_name_conflict, nothing changed", async () => {
    const userId = await newUser('dan@acme.test');
    await factor(userId, 'totp', 'laptop');
    const second = await factor(userId, 'totp', 'phone');
    const answer = await put(userId, second, { friendly_name: 'laptop' });
    assert.equal(answer.status, 422);
    assert.equal(((await answer.json()) as { error_code: string }).error_code, 'mfa_factor_name_conflict');
    assert.deepEqual(await namesOf(userId), [
      { friendly_name: 'laptop', phone: null },
      { friendly_name: 'phone', phone: null },
    ]);
  });

  it("a phone factor's phone is set (E.164, as GoTrue keeps it); a bad one is a 400; a TOTP factor keeps none", async () => {
    const userId = await newUser('eve@acme.test');
    const phoneFactor = await factor(userId, 'phone', 'sms', '15550001111');
    const totpFactor = await factor(userId, 'totp', 'app');
    assert.equal((await put(userId, phoneFactor, { phone: '+1 555 000 2222' })).status, 200);
    const bad = await put(userId, phoneFactor, { phone: '12ab' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error_code: string }).error_code, 'validation_failed');
    assert.equal((await put(userId, totpFactor, { phone: '+15550003333' })).status, 200);
    assert.deepEqual(await namesOf(userId), [
      { friendly_name: 'app', phone: null },
      { friendly_name: 'sms', phone: '15550002222' },
    ]);
  });

  it("another user's factor, an unknown one, a factor id that is not a UUID: 404 mfa_factor_not_found, nothing changed", async () => {
    const owner = await newUser('fay@acme.test');
    const ownersFactor = await factor(owner, 'totp', 'mine');
    const other = await newUser('gus@acme.test');
    for (const factorId of [ownersFactor, randomUUID(), 'not-a-factor']) {
      const answer = await put(other, factorId, { friendly_name: 'taken over' });
      assert.equal(answer.status, 404, factorId);
      assert.equal(((await answer.json()) as { error_code: string }).error_code, 'mfa_factor_not_found');
    }
    assert.deepEqual(await namesOf(owner), [{ friendly_name: 'mine', phone: null }]);
  });
});
