import { Type } from '@sinclair/typebox';
import { ConfigError } from './errors.js';

/**
 * Durations as json-data-server wrote them (jsonwebtoken's `expiresIn`, parsed
 * by the `ms` package): "30s", "1m", "2h", "1d", "1w", "1y", long unit names
 * ("2 days", "10 minutes"), fractions ("1.5h"), or a plain number of seconds.
 *
 * One deliberate difference: a numeric *string* ("3600") is seconds here. With
 * jsonwebtoken it meant milliseconds, a well-known trap nobody relies on
 * on purpose (a token that expires 3.6 s after it was issued).
 */

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  msec: 0.001,
  msecs: 0.001,
  millisecond: 0.001,
  milliseconds: 0.001,
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
  w: 604800,
  week: 604800,
  weeks: 604800,
  // `ms` counts a year as 365.25 days.
  y: 31557600,
  yr: 31557600,
  yrs: 31557600,
  year: 31557600,
  years: 31557600,
};

const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)?$/i;

const DURATION_HINT = 'a duration like "30s", "15m", "2h", "1d", "1w" or a number of seconds';

/** Schema of a duration as a user writes it; `expected` feeds the error message. */
export function Duration(options: { default?: string | number } = {}) {
  return Type.Union([Type.String(), Type.Number()], { expected: DURATION_HINT, ...options });
}

/**
 * Whole seconds, or a message saying what is wrong (the caller adds the key).
 * Sub-second results are refused rather than rounded: tokens carry whole seconds.
 */
export function parseDuration(value: unknown): { seconds: number } | { error: string } {
  let seconds: number;
  if (typeof value === 'number') {
    seconds = value;
  } else if (typeof value === 'string') {
    const match = DURATION_RE.exec(value.trim());
    const unit = match?.[2]?.toLowerCase();
    const factor = unit === undefined ? 1 : UNIT_SECONDS[unit];
    if (!match || factor === undefined) return { error: `must be ${DURATION_HINT}` };
    // Multiply in milliseconds first so "1.1s" or "1500ms" do not pick up float noise.
    seconds = Math.round(Number(match[1]) * factor * 1000) / 1000;
  } else {
    return { error: `must be ${DURATION_HINT}` };
  }
  if (!Number.isFinite(seconds) || seconds < 0) return { error: `must be ${DURATION_HINT}` };
  if (!Number.isInteger(seconds)) return { error: 'must be a whole number of seconds' };
  if (!Number.isSafeInteger(seconds)) return { error: 'is too large' };
  return { seconds };
}

/** parseDuration, or a ConfigError naming where the value came from and its key. */
export function seconds(value: unknown, key: string, where: string): number {
  const parsed = parseDuration(value);
  if ('error' in parsed)
    throw new ConfigError(`${where}: ${key} ${parsed.error} (got ${JSON.stringify(value)})`);
  return parsed.seconds;
}
