/**
 * How far apart the clocks of instances sharing a database may be before a date ahead of now means
 * the clock went back (an NTP step, a restored VM) rather than another instance's clock being a
 * little ahead.
 */
export const CLOCK_SKEW_MS = 60_000;

/**
 * Whether something dated `date` was made before the clock went back: it lies further ahead of
 * `now` than instances' clocks differ. Its true age is unknown then, so a lifetime counted from it
 * would last the whole jump longer: whatever it dates (a flow, a code, a session) is treated as old.
 */
export function datedAhead(date: Date, now: Date): boolean {
  return date.getTime() > now.getTime() + CLOCK_SKEW_MS;
}
