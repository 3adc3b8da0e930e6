import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseWithSetting, type DatabaseWithSetting } from '../support/database-with-setting.js';
import { openPostgresStore } from '../../src/stores/postgres/index.js';
import { DatabaseUnreachableError } from '../../src/stores/postgres/startup.js';
import { realServerOnly, testRoles, testStoreConfig } from '../support/postgres.js';

/**
 * A replica given as the database at the first start (a hot standby's URL, or a database set
 * read-only): the migrations' first write is refused (25006). The start waits store.startupTimeout,
 * as a failover may be under way, then fails. It said "did not answer ... start it", sending the
 * operator after a server that was up; it now says the database refuses writes and to give restauth
 * the primary. Real fault: default_transaction_read_only on a real server's database (the SQLSTATE a
 * hot standby answers).
 */
describe('a read-only database at the first start', { skip: realServerOnly() ?? false }, () => {
  let database: DatabaseWithSetting | undefined;
  let url: string;

  before(async () => {
    database = await databaseWithSetting('default_transaction_read_only = on');
    url = database.url;
  });
  after(async () => {
    await database?.drop();
  });

  it('fails after store.startupTimeout saying it refuses writes and to give the primary', async () => {
    const lines: string[] = [];
    await assert.rejects(
      openPostgresStore({ ...testStoreConfig(url), startupTimeout: 1 }, testRoles, {
        logger: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
      }),
      (error) => {
        assert.ok(error instanceof DatabaseUnreachableError, String(error));
        assert.match(
          error.message,
          /refused writes for 1 s \(cannot execute CREATE SCHEMA in a read-only transaction\)/u,
        );
        assert.match(error.message, /a standby or a read-only database; give restauth the primary/u);
        assert.doesNotMatch(error.message, /did not answer|start it/u);
        return true;
      },
    );
    assert.equal(lines.length, 1, lines.join('\n'));
  });
});
