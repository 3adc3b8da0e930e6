import assert from 'node:assert/strict';
import type { DropReason, Listener } from '../../src/http/dropped-connections.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus's text format, the samples only. */
export function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/u.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/gu)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one series of `name` with these labels (others ignored); undefined when absent. */
export function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  assert.ok(found.length <= 1, `one series of ${name} ${JSON.stringify(labels)}: ${JSON.stringify(found)}`);
  return found[0]?.value;
}

/** restauth_http_connections_dropped_total of `listener` in a scrape's text, by reason. */
export function droppedConnections(text: string, listener: Listener): Record<DropReason, number | undefined> {
  const samples = parse(text);
  const of = (reason: DropReason) =>
    valueOf(samples, 'restauth_http_connections_dropped_total', { listener, reason });
  return {
    maxConnections: of('maxConnections'),
    maxConnectionsPerClient: of('maxConnectionsPerClient'),
    requestTimeout: of('requestTimeout'),
    answerMinRate: of('answerMinRate'),
    requestHeaderBudget: of('requestHeaderBudget'),
  };
}
