import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { constants } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { signInWrites, writeOneUserFolder } from '../support/file-sign-in.js';

const quiet = { info() {}, warn() {} };

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
 * looks at both files at once, writes its lines with one synchronized write (O_DSYNC: on disk when
 * the write returns, no separate fdatasync), and checks the journal's name with one stat.
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

  it('costs four requests: both files looked at together, one synchronized write, one look at the journal', async () => {
    const requests = await threadPoolRequests(signIn);
    // Was six (a stat of each file one after the other, the write, an fdatasync, a stat of the open
    // journal and one of its name): five round trips of the event loop per sign-in, now three.
    assert.equal(requests.length, 4, `requests: ${requests.join(', ')}`);
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
