import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AuditEvent } from '../../src/core/ports/store.js';
import { removeLeftoverTempFiles } from '../../src/lib/atomic-write.js';
import { AuditFile, auditLineText } from '../../src/stores/file/audit-file.js';
import { SLICE_BYTES } from '../../src/stores/file/lines-in-slices.js';
import { answeringServer } from '../support/answering-server.js';
import { exitOf } from '../support/child-waits.js';
import { spawnTsScript } from '../support/process.js';

/**
 * The hourly audit prune read the whole audit log and parsed it in one go: about 0.3 s at 100,000
 * events during which no request was answered. It now reads and parses the file a slice at a time
 * (SLICE_BYTES), twice (what goes, then what stays, written as it is read), so requests are answered
 * between slices; and a kill at any point of it loses nothing (the file is replaced by a rename).
 * What is measured is the code's own count (lines parsed in one synchronous slice), not a time.
 */
const EVENTS = 30_000;
const OLD = Date.UTC(2020, 0, 1);
const NEW = Date.UTC(2026, 0, 1);
const PRUNE_BEFORE = new Date(Date.UTC(2025, 0, 1));

function event(n: number, at: number): AuditEvent {
  return {
    id: `e${n}`,
    at: new Date(at + n),
    action: 'login',
    actorId: null,
    userId: `u${n % 50}`,
    ip: '192.0.2.1',
    data: {},
  };
}

/** An audit log of EVENTS events, the first half dated before PRUNE_BEFORE. */
async function auditLog(dir: string): Promise<{ path: string; shortestLine: number }> {
  const path = join(dir, 'credentials.audit.jsonl');
  const lines = Array.from({ length: EVENTS }, (_, n) => auditLineText(event(n, n < EVENTS / 2 ? OLD : NEW)));
  await writeFile(path, lines.join(''), { mode: 0o600 });
  return { path, shortestLine: Math.min(...lines.map((line) => Buffer.byteLength(line))) };
}

async function eventIds(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.includes('"action"'))
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

describe('the audit prune of a big log', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const folder = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-prune-slices-'));
    dirs.push(dir);
    return dir;
  };

  it('parses a slice at a time, answers a request meanwhile, and keeps events journaled meanwhile', async () => {
    const { path, shortestLine } = await auditLog(await folder());
    const { request } = await answeringServer();

    const slices: number[] = [];
    let answeredAfterSlices: number | null = null;
    let answered: Promise<void> | null = null;
    let journaled = 0;
    // Told after each slice the prune worked on: the first sends a request; each hands the log an event
    // that a sign-in's commit made durable meanwhile (what CredentialsJournal.acknowledge does).
    const onSlice = (lines: number) => {
      slices.push(lines);
      answered ??= request().then(() => {
        answeredAfterSlices = slices.length;
      });
      log.journaled([auditLineText(event(EVENTS + journaled++, NEW))]);
    };
    const log = new AuditFile(path, undefined, undefined, { onSlice });
    try {
      assert.equal(await log.prune(PRUNE_BEFORE), EVENTS / 2);
      // Answered while the prune ran (its slices, reads and writes let it through), not after it.
      assert.ok(answeredAfterSlices !== null, 'the request was answered only after the prune');
      await answered;
      // What stalls no more, counted by the code: a slice is at most SLICE_BYTES of the file (and
      // the line a read cut), never the whole file (30,000 lines in one slice before).
      const mostLines = Math.max(...slices);
      assert.ok(mostLines <= Math.ceil(SLICE_BYTES / shortestLine) + 1, `a slice of ${mostLines} lines`);
      assert.ok(slices.length >= 8, `${slices.length} slices`);

      // The events journaled while the prune ran are written too (they stayed unwritten), none lost.
      await log.sync();
      const ids = await eventIds(path);
      const expected = [
        ...Array.from({ length: EVENTS / 2 }, (_, n) => `e${EVENTS / 2 + n}`),
        ...Array.from({ length: journaled }, (_, n) => `e${EVENTS + n}`),
      ];
      assert.deepEqual(ids.sort(), expected.sort());
    } finally {
      await log.close();
    }
  });

  it('killed (SIGKILL) while it writes the pruned copy: the log keeps every event, the next prune completes', async () => {
    const dir = await folder();
    const { path } = await auditLog(dir);
    const before = await readFile(path, 'utf8');
    // The child prunes, and kills itself once the copy it writes (writeFileAtomically's temp file,
    // named by its pid) has content: in the middle of the new path, wherever the machine's speed.
    const script = `
      import { statSync } from 'node:fs';
      import { basename, dirname, join } from 'node:path';
      import { AuditFile } from ${JSON.stringify(new URL('../../src/stores/file/audit-file.ts', import.meta.url).href)};
      const path = process.argv[1];
      const temp = join(dirname(path), '.' + basename(path) + '.' + process.pid + '.tmp');
      const log = new AuditFile(path, undefined, undefined, {
        onSlice: () => {
          if ((statSync(temp, { throwIfNoEntry: false })?.size ?? 0) > 0) process.kill(process.pid, 'SIGKILL');
        },
      });
      await log.prune(new Date(${PRUNE_BEFORE.getTime()}));
      console.error('the prune ended before the kill');
    `;
    const child = spawnTsScript(script, [path], 'inherit');
    assert.deepEqual(await exitOf(child), { code: null, signal: 'SIGKILL' });
    // The log as it was; the half-written copy is what a start removes (removeLeftoverTempFiles).
    assert.equal(await readFile(path, 'utf8'), before);
    assert.deepEqual(await removeLeftoverTempFiles(path), [`.credentials.audit.jsonl.${child.pid}.tmp`]);
    assert.deepEqual(await readdir(dir), ['credentials.audit.jsonl']);

    const log = new AuditFile(path);
    try {
      assert.equal(await log.prune(PRUNE_BEFORE), EVENTS / 2);
    } finally {
      await log.close();
    }
    assert.equal((await eventIds(path)).length, EVENTS / 2);
  });
});
