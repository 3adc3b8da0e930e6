import { AuthError } from './errors.js';

/**
 * GoTrue's `ban_duration`: a Go duration (time.ParseDuration: "24h",
 * "1h30m", "90s", "1.5h"; units ns, us, µs, ms, s, m, h) or "none", which
 * lifts a ban. Returns milliseconds, or null for "none"; a zero or negative
 * duration bans nobody, as in GoTrue.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const SHAPE = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/u;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gu;
/** Go's longest duration (2^63 - 1 ns, about 292 years). */
const MAX_MS = 9_223_372_036_854;

export function parseBanDuration(text: string): number | null {
  if (text === 'none') return null;
  const invalid = () => new AuthError('validation_failed', `invalid format for ban duration: "${text}"`);
  if (text === '0') return 0;
  if (text.length > 64 || !SHAPE.test(text)) throw invalid();
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  if (total > MAX_MS) throw invalid();
  return text.startsWith('-') ? -total : total;
}
