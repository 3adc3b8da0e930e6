import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * The data API never serves db.json's `auth` key (the auth dialects own /auth/...): GET /auth is no
 * collection and /db leaves it out. `DELETE /posts/1?_dependent=auth` still reached it: the dependents
 * were read from the document by the name the client gave, so any writer of posts deleted every
 * `auth` record whose `postId` named the post. A name the data API does not serve is no dependent now,
 * as it is no collection for `_embed`. Over HTTP on a real app on files.
 */
const KEPT = [{ id: 7, postId: 1, note: 'not the data API’s' }];

describe('_dependent names only what the data API serves', () => {
  let t: TestApp;
  let token = '';

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: {
        'db.json': JSON.stringify({
          users: [],
          posts: [{ id: 1 }, { id: 2 }],
          comments: [{ id: 1, postId: 2 }],
          auth: KEPT,
        }),
      },
    });
    token = await registeredToken(t, 'writer', 'writer-password');
  });
  after(() => t.close());

  const send = (method: 'GET' | 'DELETE', url: string) =>
    t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` } });

  it('leaves an unserved key alone, and still deletes served dependents', async () => {
    assert.equal((await send('GET', '/db')).json<Record<string, unknown>>()['auth'], undefined);
    const deleted = await send('DELETE', '/posts/1?_dependent=auth');
    assert.equal(deleted.statusCode, 200, deleted.body);
    assert.deepEqual(t.services.documents!.data['auth'], KEPT);

    // The served dependents of another post go as asked.
    assert.equal((await send('DELETE', '/posts/2?_dependent=comments&_dependent=auth')).statusCode, 200);
    assert.deepEqual((await send('GET', '/comments')).json(), []);
    assert.deepEqual(t.services.documents!.data['auth'], KEPT);
  });
});
