import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Journal, type JsonObject } from '../../src/stores/file/journal.js';

/** A change that puts one key: idempotent, as every journal's changes are. */
type Put = { key: string; value: number };
const format = {
  parse: (value: unknown) => value as Put,
  replayer: (doc: JsonObject) => ({ apply: (change: Put) => void (doc[change.key] = change.value) }),
};
const line = (key: string, value: number) => `${JSON.stringify({ key, value })}\n`;

/**
 * A journal whose file is removed under the server (an operator's clean-up, a restored folder): an
 * append to the file it holds open would be acknowledged and then lost at the next start, since no
 * path names that file any more. The append is refused as storage (ESTALE, answered 507), and the next
 * writes every line since the last compaction again into the file the path names.
 */
describe('a journal whose file is removed while it is written', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-journal-replaced-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes what was acknowledged again, with the append, into the file the path names now', async () => {
    const path = join(dir, '.credentials.json.journal');
    const journal = new Journal<Put>(path, format);
    await journal.append([line('a', 1)]);
    await rm(path);

    // Its line went into the removed file first: written again, with 'a', into a new one.
    await journal.append([line('b', 2)]);
    await journal.append([line('c', 3)]);

    // What a restart replays: every acknowledged change.
    const doc: JsonObject = {};
    const fresh = new Journal<Put>(path, format);
    await fresh.recover(doc);
    assert.deepEqual(doc, { a: 1, b: 2, c: 3 });
  });

  it('refuses the append while its folder is gone (507), then writes what was acknowledged again', async () => {
    const folder = join(dir, 'gone');
    await mkdir(folder);
    const path = join(folder, '.credentials.json.journal');
    const journal = new Journal<Put>(path, format);
    await journal.append([line('a', 1)]);
    await rm(folder, { recursive: true });

    await assert.rejects(journal.append([line('b', 2)]), { code: 'ESTALE' });
    await mkdir(folder);
    await journal.append([line('c', 3)]);

    const doc: JsonObject = {};
    await new Journal<Put>(path, format).recover(doc);
    assert.deepEqual(doc, { a: 1, c: 3 });
  });
});
