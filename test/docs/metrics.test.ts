import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';

/** The metric table of docs/operations.md: each row's name (or `prefix_*` pattern) and type. */
async function documentedMetrics(): Promise<Map<string, string>> {
  const doc = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const section = doc.slice(
    doc.indexOf('\n## Metrics'),
    doc.indexOf('\n## ', doc.indexOf('\n## Metrics') + 1),
  );
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    for (const name of (cells[1] ?? '').matchAll(/`([a-z_]+\*?)`/gu))
      if (name[1] !== 'metric') rows.set(name[1]!, cells[2] ?? '');
  }
  return rows;
}

/** The families a scrape declares (`# TYPE name type`), by name. */
function scrapedFamilies(text: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gmu)) families.set(match[1]!, match[2]!);
  return families;
}

/**
 * Every metric a real server registers is in docs/operations.md's table with its type, and every
 * row there is registered: scraped from /metrics on both stores (PostgreSQL adds its pool's gauge).
 */
describe('docs/operations.md lists the metrics the server registers', () => {
  const scraped = new Map<string, string>();
  const apps: TestApp[] = [];
  const drops: (() => Promise<void>)[] = [];

  before(async () => {
    for (const kind of ['file', 'postgres'] as const) {
      const store = await suiteStore(kind);
      drops.push(() => store.drop());
      const t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, metrics: { enabled: true } },
      });
      apps.push(t);
      const scrape = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(scrape.statusCode, 200);
      for (const [name, type] of scrapedFamilies(scrape.body)) scraped.set(name, type);
    }
  });
  after(async () => {
    for (const t of apps) await t.close();
    for (const drop of drops) await drop();
  });

  it('documents each registered metric with its type', async () => {
    const documented = await documentedMetrics();
    const patterns = [...documented.keys()].filter((name) => name.endsWith('*'));
    assert.ok(scraped.has('restauth_http_requests_total') && scraped.has('restauth_db_pool_connections'));
    const missing = [...scraped]
      .filter(([name]) => !documented.has(name) && !patterns.some((p) => name.startsWith(p.slice(0, -1))))
      .map(([name]) => name);
    assert.deepEqual(missing, [], 'registered but not in the table');
    const wrongType = [...scraped]
      .filter(([name, type]) => documented.has(name) && documented.get(name) !== type)
      .map(([name, type]) => `${name}: registered ${type}, documented ${documented.get(name)}`);
    assert.deepEqual(wrongType, []);
  });

  it('registers each documented metric', async () => {
    const documented = await documentedMetrics();
    const absent = [...documented.keys()].filter((name) =>
      name.endsWith('*')
        ? ![...scraped.keys()].some((scrapedName) => scrapedName.startsWith(name.slice(0, -1)))
        : !scraped.has(name),
    );
    assert.deepEqual(absent, [], 'in the table but never registered');
  });
});
