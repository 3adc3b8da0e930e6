import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { constants, type Stats } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathLookIn } from '../../src/lib/path-look.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { signInWrites, writeOneUserFolder } from '../support/file-sign-in.js';

const quiet = { info() {}, warn() {} };
/** statfs's f_type of NFS (Linux's magic.h). */
const NFS_SUPER_MAGIC = 0x6969;

/** Whether pathLookIn looks at `dir`'s paths at once: no thread-pool request for a look. */
function onLocalFileSystem(dir: string): boolean {
  return pathLookIn(dir) !== pathLookIn(dir, () => NFS_SUPER_MAGIC);
}

/** The requests a piece of work hands to libuv's thread pool (each a wake-up of a pool thread and of the loop). */
async function threadPoolRequests(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const hook = createHook({
    init(_id, type) {
      if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK') seen.push(type);
    },
  });
  hook.enable();
  try {
    await work();
  } finally {
    hook.disable();
  }
  return seen;
}

/**
 * A password sign-in on the file store is one commit of credentials.json's journal. During a login
 * storm on a machine with no spare core, every request of that commit to libuv's thread pool wakes a
 * pool thread and then the event loop, and each wake takes a core from a hash (issue 17): the commit
 * writes its lines with one synchronized write (O_DSYNC: on disk when the write returns, no separate
 * fdatasync), and on a local file system looks at both files and at the journal's name on the event
 * loop (pathLookIn), elsewhere through the pool.
 */
describe('file store: the thread-pool requests of a sign-in', () => {
  let dir: string;
  let db: FileDatabase;
  let store: FileStore;
  let n = 0;
  const signIn = () => store.openSignIn(signInWrites('kate', ++n));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-sign-in-requests-'));
    await writeOneUserFolder(dir, 'kate');
    db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      logger: quiet,
      // No timed compaction: the only file work during a sign-in is its commit's.
      compactAfterMs: 3_600_000,
    });
    store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
    // The first sign-in opens the journal (an open, a folder sync, a stat): once per journal, not per sign-in.
    await signIn();
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('costs one request on a local file system: the synchronized write', async (t) => {
    if (!onLocalFileSystem(dir)) return t.skip(`${dir} is not on a file system pathLookIn looks at at once`);
    const requests = await threadPoolRequests(signIn);
    // Was four (both files looked at together, the write, a look at the journal's name): three round
    // trips of the event loop per sign-in, now one.
    assert.equal(requests.length, 1, `requests: ${requests.join(', ')}`);
    const session = await store.findSession(`session${n}`);
    assert.equal(session?.userId, 'kate', 'the sign-in was committed');
  });

  it('writes the journal through a file opened for synchronized writes (Linux: O_DSYNC in its flags)', async (t) => {
    if (process.platform !== 'linux') return t.skip('reads /proc/self/fdinfo');
    const journal = join(dir, '.credentials.json.journal');
    let flags: number | null = null;
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => null);
      if (target !== journal) continue;
      const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
      flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(info)![1]!, 8);
    }
    assert.notEqual(flags, null, 'the journal is open');
    // Without it the write's return would not mean the lines are on disk: a sign-in acknowledged
    // before its session is durable.
    assert.equal(flags! & constants.O_DSYNC, constants.O_DSYNC);
    assert.equal(flags! & constants.O_APPEND, constants.O_APPEND);
  });
});

describe('pathLookIn: how the paths of a folder are looked at', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-path-look-'));
    await writeFile(join(dir, 'file'), 'x');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('on a network file system (NFS), through the thread pool: a server gone holds a pool thread, not the event loop', async () => {
    const look = pathLookIn(dir, () => NFS_SUPER_MAGIC);
    let looked: Stats | null = null;
    const requests = await threadPoolRequests(async () => (looked = await look(join(dir, 'file'))));
    assert.equal(requests.length, 1);
    assert.equal(looked!.size, 1);
  });

  it('on a file system that cannot be told (statfs fails), through the thread pool', async () => {
    const look = pathLookIn(join(dir, 'missing'), () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    });
    assert.equal((await threadPoolRequests(() => look(join(dir, 'file')))).length, 1);
  });

  it('on a local one, at once; a path missing or unreachable is null either way', async (t) => {
    if (!onLocalFileSystem(dir)) return t.skip(`${dir} is not on a file system pathLookIn looks at at once`);
    const look = pathLookIn(dir);
    let looked: Array<Stats | null> = [];
    const requests = await threadPoolRequests(async () => {
      looked = await Promise.all(
        ['file', 'missing', 'file/under-a-file'].map((name) => look(join(dir, name))),
      );
    });
    assert.deepEqual(requests, []);
    assert.equal(looked[0]!.size, 1);
    assert.deepEqual(looked.slice(1), [null, null]);
    const inPool = pathLookIn(dir, () => NFS_SUPER_MAGIC);
    assert.deepEqual(
      await Promise.all(['missing', 'file/under-a-file'].map((name) => inPool(join(dir, name)))),
      [null, null],
    );
  });
});
