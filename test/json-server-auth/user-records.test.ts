import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserRecords } from '../../src/http/dialects/json-server-auth-users.js';

/**
 * The user record json-server-auth's answers carry, found by id without scanning the users: after the
 * first lookup a login reads one record, a sign-up's appended record is found by reading it alone, and
 * whatever else changes the collection (a removal, a replacement, a new array) is never answered wrong.
 */

/** A users array that counts the records read from it. */
function counted(rows: Array<Record<string, unknown>>) {
  const reads = { count: 0 };
  const users = new Proxy(rows, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/u.test(key)) reads.count++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { users, reads };
}

const many = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: i + 1, email: `u${i}@mail.com` }));

describe('UserRecords', () => {
  it('finds a record reading it alone once indexed, and a record a sign-up appended reading only it', () => {
    const { users, reads } = counted(many(50_000));
    const records = new UserRecords(() => ({ users }), 'users', 'id');
    assert.deepEqual(records.find('40000'), { id: 40_000, email: 'u39999@mail.com' });
    reads.count = 0;
    assert.deepEqual(records.find('123'), { id: 123, email: 'u122@mail.com' });
    assert.ok(reads.count <= 2, `read ${reads.count} records`);
    users.push({ id: 50_001, email: 'new@mail.com' });
    reads.count = 0;
    assert.deepEqual(records.find('50001'), { id: 50_001, email: 'new@mail.com' });
    assert.ok(reads.count <= 3, `read ${reads.count} records`);
  });

  it('is never wrong after a removal, a replacement or a new array, and hides password-like fields', () => {
    let users: Array<Record<string, unknown>> = many(10);
    const records = new UserRecords(() => ({ users }), 'users', 'id');
    assert.equal(records.find('5')?.['email'], 'u4@mail.com');
    users.splice(2, 1);
    assert.equal(records.find('5')?.['email'], 'u4@mail.com', 'moved by a removal');
    assert.equal(records.find('3'), null, 'removed');
    users.splice(0, 1, { id: 'x', email: 'x@mail.com' });
    users.push({ id: 1, email: 'back@mail.com' });
    assert.equal(records.find('1')?.['email'], 'back@mail.com', 'replaced in place, then appended');
    assert.equal(records.find('x')?.['email'], 'x@mail.com');
    users = [{ id: 5, email: 'edited@mail.com', password: '$2a$10$hash' }];
    assert.deepEqual(records.find('5'), { id: 5, email: 'edited@mail.com' }, 'a new array, no hash');
    assert.equal(records.find('missing'), null);
  });
});
