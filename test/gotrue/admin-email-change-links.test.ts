import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING, gotrueClient, listen, serviceAdminOf } from '../support/gotrue.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * auth-js's admin.generateLink for an email change (email_change_current, email_change_new), as
 * GoTrue answers it: a link for each side, nothing mailed, the change done once both are used.
 */
describe('GoTrue dialect: generate_link for an email change, with the unmodified auth-js', () => {
  let t: TestApp;
  let url: string;
  before(async () => {
    t = await createTestApp({ format: 'restauth', config: { passwords: FAST_HASHING } });
    url = await listen(t);
  });
  after(() => t.close());

  it('both links are used: the address changes; each alone leaves it', async () => {
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'old@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'taken@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const admin = await serviceAdminOf({ url, t });

    const current = await admin.generateLink({
      type: 'email_change_current',
      email: 'old@acme.test',
      newEmail: 'new@acme.test',
    });
    assert.equal(current.error, null);
    assert.equal(current.data.properties?.verification_type, 'email_change');
    assert.match(current.data.properties?.action_link ?? '', /\/verify\?token=[^&]+&type=email_change/u);
    const next = await admin.generateLink({
      type: 'email_change_new',
      email: 'old@acme.test',
      newEmail: 'new@acme.test',
    });
    assert.equal(next.error, null);

    const { client } = gotrueClient(url);
    const first = await client.verifyOtp({
      token_hash: current.data.properties!.hashed_token,
      type: 'email_change',
    });
    assert.equal(first.error, null);
    assert.equal(
      (await t.services.store.findUserByEmail('old@acme.test'))?.email,
      'old@acme.test',
      'one side alone',
    );
    const second = await client.verifyOtp({
      token_hash: next.data.properties!.hashed_token,
      type: 'email_change',
    });
    assert.equal(second.error, null);
    assert.equal(second.data.user?.email, 'new@acme.test');
    assert.equal(await t.services.store.findUserByEmail('old@acme.test'), null);
  });

  it("GoTrue's refusals: a taken new address, no new address, an unknown account", async () => {
    const admin = await serviceAdminOf({ url, t });
    await t.services.admin.createUser(LOCAL_CALL, {
      email: 'ann@acme.test',
      password: 'a long passphrase',
      emailConfirm: true,
    });
    const taken = await admin.generateLink({
      type: 'email_change_new',
      email: 'ann@acme.test',
      newEmail: 'taken@acme.test',
    });
    assert.deepEqual([taken.error?.status, taken.error?.code], [422, 'email_exists']);
    const none = await admin.generateLink({ type: 'email_change_new', email: 'ann@acme.test', newEmail: '' });
    assert.deepEqual([none.error?.status, none.error?.message], [400, 'An email address is required']);
    const unknown = await admin.generateLink({
      type: 'email_change_current',
      email: 'nobody@acme.test',
      newEmail: 'new2@acme.test',
    });
    assert.deepEqual(
      [unknown.error?.status, unknown.error?.code, unknown.error?.message],
      [404, 'user_not_found', 'User with this email not found'],
    );
  });
});
