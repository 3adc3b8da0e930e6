import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Upkeep that runs "at most once an hour" after the clock went back (an NTP step after the host ran
 * fast): its last run is then dated ahead of now, and must not hold the next one off until the clock
 * catches up with it. Over HTTP, on both stores, with the app's injected clock.
 */
const PREFIX = '/auth/v1';
const DAY = 24 * 3600 * 1000;

for (const kind of ['file', 'postgres'] as const) {
  describe(`audit pruning after the clock went back, ${kind} store`, () => {
    let t: TestApp;
    let drop: () => Promise<void>;
    const advance = (ms: number) => t.advance(ms);

    before(async () => {
      const store = await suiteStore(kind);
      drop = store.drop;
      t = await createTestApp({
        format: 'restauth',
        config: {
          passwords: FAST_HASHING,
          signup: { confirmEmail: false },
          audit: { retention: 86_400 },
          ...store.config,
        },
      });
    });
    after(async () => {
      await t?.close();
      await drop?.();
    });

    /** Signs a new address up; its user's id. */
    const signUp = async (email: string): Promise<string> => {
      const res = await t.app.inject({
        method: 'POST',
        url: `${PREFIX}/signup`,
        payload: { email, password: 'upkeep passphrase 1' },
      });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { user: { id: string } }).user.id;
    };
    /** The users the audit log's events are about. */
    const auditedUsers = async (): Promise<Array<string | null>> => {
      // Admin routes check their token against the auth clock moved here: signed by it.
      const service = await t.services.tokens.signRoleToken('service_role', 60, t.services.clock());
      const listed = await t.app.inject({
        method: 'GET',
        url: `${PREFIX}/admin/audit?per_page=100`,
        headers: { authorization: `Bearer ${service}` },
      });
      assert.equal(listed.statusCode, 200, listed.body);
      return (listed.json() as Array<{ payload: { user_id: string | null } }>).map(
        (entry) => entry.payload.user_id,
      );
    };

    it('prunes past the retention although its last prune is dated ten days ahead', async () => {
      // The clock runs ten days fast: a sign-up is audited, and the log pruned, then.
      advance(10 * DAY);
      await signUp(`fast-${kind}@corp.test`);
      // Set right: a sign-up now is audited.
      advance(-10 * DAY);
      const early = await signUp(`early-${kind}@corp.test`);
      assert.ok((await auditedUsers()).includes(early));
      // Two days on, the retention (one day) is past for that event: the next write prunes it, where
      // the last prune, dated eight days ahead still, held every prune off for eight more days.
      advance(2 * DAY);
      const late = await signUp(`late-${kind}@corp.test`);
      const users = await auditedUsers();
      assert.ok(users.includes(late));
      assert.ok(!users.includes(early), 'the event past the retention is pruned');
    });
  });
}
