import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import {
  PostgresFlowStates,
  flowStateTable,
  linkFlowSessionTable,
  pendingLinkTable,
  spentIdTokenTable,
  usersTable,
} from '../../src/stores/postgres/flow-states.js';
import { dropDatabase, testPostgres } from '../support/postgres.js';
import { migrateUpTo, SUPABASE_NAMES } from '../support/postgres-migrations.js';

const names = SUPABASE_NAMES;

/**
 * Migration 44: a link flow keeps the session that started it (restauth.link_flow_sessions). A link flow a
 * restauth from before stored, still pending at the upgrade, comes back without one, which the
 * callback refuses (IdentityLinking: session_not_found) rather than linking unchecked.
 */
describe('PostgreSQL: migration 44, the session of a link flow', () => {
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;
  const oldFlow = randomUUID();
  const target = randomUUID();

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    pool = new pg.Pool({ connectionString: url, max: 2 });
    await migrateUpTo(pool, names, 41);
    // As the restauth of migration 41 wrote a pending linkIdentity flow.
    await pool.query(
      `INSERT INTO auth.flow_state (id, authentication_method, provider_type, referrer, linking_target_id,
         created_at, updated_at)
       VALUES ($1, 'oauth', 'github', 'https://app.test/settings', $2, now(), now())`,
      [oldFlow, target],
    );
    await migrate(pool, names);
  });
  after(async () => {
    await pool.end();
    await dropDatabase(serverUrl, url);
  });

  it('an old link flow is taken without a session; a new one keeps its own', async () => {
    const flows = new PostgresFlowStates(
      pool,
      flowStateTable(names),
      spentIdTokenTable(names),
      linkFlowSessionTable(names),
      pendingLinkTable(names),
      usersTable(names),
    );
    const old = await flows.takeOAuthFlow(oldFlow);
    assert.equal(old?.linkingTargetId, target);
    assert.equal(old?.linkingSessionId, null);

    const session = randomUUID();
    const fresh = {
      id: randomUUID(),
      providerType: 'github',
      codeChallenge: null,
      codeChallengeMethod: null,
      referrer: null,
      linkingTargetId: target,
      linkingSessionId: session,
      createdAt: new Date(),
    };
    await flows.createOAuthFlow(fresh);
    assert.equal((await flows.takeOAuthFlow(fresh.id))?.linkingSessionId, session);
  });
});
