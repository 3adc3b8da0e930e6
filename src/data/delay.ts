import { setTimeout as wait } from 'node:timers/promises';
import { first, type Query } from './query.js';

/**
 * json-server's delays: `--delay` (the `delay` setting) before every data
 * answer, and `?_delay=ms` per request on top of it. A request's own delay is
 * capped, so that `_delay=1e12` cannot hold a socket (and a file
 * descriptor) for ever; json-server had no cap.
 */
export const MAX_REQUEST_DELAY_MS = 10_000;

/** Waits `ms`, or less when `signal` aborts (the server closing): resolves either way. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const sleep: Sleep = (ms, signal) =>
  wait(ms, undefined, { signal }).catch((error: unknown) => {
    if ((error as { name?: string }).name !== 'AbortError') throw error;
  });

/** The milliseconds one request waits: the setting's, plus its `_delay` (a number, at most the cap). */
export function delayOf(query: Query, setting: number): number {
  const requested = Number.parseFloat(first(query._delay) ?? '');
  const own = Number.isFinite(requested) ? Math.min(Math.max(requested, 0), MAX_REQUEST_DELAY_MS) : 0;
  return setting + own;
}
