import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { GoTrueAdminApi } from '@supabase/auth-js';
import { adminClient, FAST_HASHING, gotrueClient } from '../support/gotrue.js';
import { listeningAppOnStore } from '../support/mailing-app-on-store.js';
import { queryOnce, verifiedTotpFactor } from '../support/mfa-factors.js';

/**
 * An adopted GoTrue database's users may hold MFA factors (auth.mfa_factors). restauth asks no second
 * factor, so a user with a verified one is refused every session (403 insufficient_aal), and the
 * operator's way out was SQL: GoTrue's admin factor routes listed [] and answered every delete
 * mfa_factor_not_found. They now read and delete the table's rows, in GoTrue's factor object, and
 * the deletion is audit-logged; the user signs in again at aal1. Real PostgreSQL, the real auth-js
 * (its admin.mfa API) over HTTP.
 */
const PASSWORD = 'a long passphrase 7';

describe("admin factor routes on an adopted GoTrue database's factors (postgres store)", () => {
  const app = listeningAppOnStore('postgres', { passwords: FAST_HASHING });
  let admin: GoTrueAdminApi;
  let serviceToken: string;

  before(async () => {
    serviceToken = await app.t.services.tokens.signRoleToken('service_role', 3600, app.t.services.clock());
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
});
