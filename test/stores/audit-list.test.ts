import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AuditEvent } from '../../src/core/ports/store.js';
import { AuditFile, auditLineText } from '../../src/stores/file/audit-file.js';

/**
 * The file store's audit list reads a page's lines through an index of the file (AuditIndex) rather
 * than parsing the whole file for every page. Its answers must be the whole-file ones: every event
 * (the file's, then those still unwritten) filtered by user, newest first with events of the same
 * instant in insertion order, sliced to the page; damaged lines and the prune's first line skipped.
 */

const USERS = ['u-a', 'u-b', 'u-c', null];
const BASE = Date.parse('2026-01-01T00:00:00.000Z');

/** Dates that mostly rise, with ties and a clock stepped back now and then (the order is not the file's). */
function eventAt(i: number): Date {
  const step = Math.floor(i / 3) * 1000;
  return new Date(BASE + (i % 17 === 0 ? step - 3_600_000 : step));
}

function event(i: number): AuditEvent {
  return {
    id: `e-${i}`,
    at: eventAt(i),
    action: i % 2 === 0 ? 'login' : 'logout',
    actorId: USERS[i % 4] ?? null,
    userId: USERS[(i * 7) % 4] ?? null,
    ip: '192.0.2.1',
    data: { n: i, text: 'é'.repeat(i % 5) },
  };
}

/** The whole-file answer: all events in insertion order, filtered, stably sorted newest first, sliced. */
function expectedPage(
  events: readonly AuditEvent[],
  options: { page: number; perPage: number; userId?: string },
) {
  const matching = events.filter((e) => options.userId === undefined || e.userId === options.userId);
  matching.sort((a, b) => b.at.getTime() - a.at.getTime());
  const start = (Math.max(options.page, 1) - 1) * options.perPage;
  return { events: matching.slice(start, start + options.perPage), total: matching.length };
}

async function assertEveryPage(log: AuditFile, events: readonly AuditEvent[], perPage: number) {
  for (const userId of [undefined, 'u-a', 'u-c', 'nobody']) {
    const { total } = expectedPage(events, { page: 1, perPage, userId });
    for (let page = 1; page <= Math.ceil(total / perPage) + 1; page++) {
      const options = userId === undefined ? { page, perPage } : { page, perPage, userId };
      assert.deepEqual(await log.list(options), expectedPage(events, options), `page ${page} of ${userId}`);
    }
  }
}

describe('the file audit list, page by page', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('answers every page as the whole file does, through appends, unwritten events and a prune', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-list-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.audit.jsonl');
    const events: AuditEvent[] = [];
    // A pruned file: the prune's line first, damaged lines among the events.
    let text = `${JSON.stringify({ prunedBefore: new Date(BASE - 86_400_000).toISOString() })}\n`;
    for (let i = 0; i < 1500; i++) {
      events.push(event(i));
      text += auditLineText(event(i));
      if (i % 97 === 0) text += '{"id":"half a line\n\n[1,2]\n';
    }
    await writeFile(path, text, { mode: 0o600 });
    const log = new AuditFile(path);
    try {
      await assertEveryPage(log, events, 97);

      // Appended events are indexed at the next listing; journaled ones are listed before their write.
      for (let i = 1500; i < 1520; i++) {
        events.push(event(i));
        await log.record(event(i));
      }
      const journaled = [1520, 1521, 1522].map(event);
      events.push(...journaled);
      log.journaled(journaled.map(auditLineText));
      await assertEveryPage(log, events, 50);
      await log.sync();
      await assertEveryPage(log, events, 500);

      // A prune replaces the file: the index is rebuilt.
      const before = new Date(BASE + 200_000);
      await log.prune(before);
      const kept = events.filter((e) => e.at.getTime() >= before.getTime());
      await assertEveryPage(log, kept, 64);
    } finally {
      await log.close();
    }
  });

  it('lists a last line left without its newline, and indexes it once an append ends it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-list-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.audit.jsonl');
    const events = [0, 1, 2, 3].map(event);
    await writeFile(path, events.map(auditLineText).join('').slice(0, -1), { mode: 0o600 });
    const log = new AuditFile(path);
    try {
      await assertEveryPage(log, events, 3);
      events.push(event(4));
      await log.record(event(4));
      await assertEveryPage(log, events, 2);
    } finally {
      await log.close();
    }
  });
});
