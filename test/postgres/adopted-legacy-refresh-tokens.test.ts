import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { useTestDatabase } from '../support/test-database.js';
import {
  addGoTrueSession,
  createGoTrueMadeDatabase,
  type GoTrueMadeDatabase,
} from './gotrue-made-database.js';

/**
 * A refresh token GoTrue issued before it had sessions (auth.refresh_tokens.session_id NULL, a v1
 * token of 12 characters). GoTrue's RefreshTokenGrant (internal/tokens/service.go) finds its user but
 * no session, deletes the token and answers 400 session_not_found ("Invalid Refresh Token: No Valid
 * Session Found"): it never refreshes one, and neither does restauth. restauth answers 400
 * refresh_token_not_found, its answer (and GoTrue's) for a token whose session is gone: auth-js
 * signs out on either, and the token is refused as a token of a deleted session is.
 */
describe('a GoTrue refresh token from before sessions (session_id NULL)', () => {
  let t: TestApp;
  let made: GoTrueMadeDatabase;
  const db = useTestDatabase({ migrateThrough: 0, max: 2, beforeDrop: () => t?.close() });
  before(async () => {
    made = await createGoTrueMadeDatabase(db.url);
    t = await createTestApp({ format: 'restauth', config: { store: db.config, passwords: FAST_HASHING } });
  });

  it('is refused with a 400, and no session is opened', async () => {
    const hugo = made.users[1];
    const client = await db.pool.connect();
    const legacy = await addGoTrueSession(client, hugo.id, 'v1').finally(() => client.release());
    await db.pool.query('UPDATE auth.refresh_tokens SET session_id = NULL WHERE token = $1', [legacy.token]);
    await db.pool.query('DELETE FROM auth.sessions WHERE id = $1', [legacy.sessionId]);
    const sessionsBefore = await db.pool.query('SELECT id FROM auth.sessions WHERE user_id = $1', [hugo.id]);

    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: legacy.token },
    });
    assert.equal(refreshed.statusCode, 400, refreshed.body);
    assert.equal(refreshed.json<{ error_code: string }>().error_code, 'refresh_token_not_found');
    // Nothing was rotated or converted: the token is GoTrue's row as it was.
    const token = await db.pool.query(
      'SELECT revoked, session_id FROM auth.refresh_tokens WHERE token = $1',
      [legacy.token],
    );
    assert.deepEqual(token.rows, [{ revoked: false, session_id: null }]);
    const sessionsAfter = await db.pool.query('SELECT id FROM auth.sessions WHERE user_id = $1', [hugo.id]);
    assert.deepEqual(sessionsAfter.rows, sessionsBefore.rows);
  });
});
