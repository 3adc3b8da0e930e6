import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { dateText, storedDate } from '../../src/stores/file/credentials-dates.js';

/**
 * storedDate reads a date in toISOString's format from its digits, without Date.parse and the
 * toISOString round trip it replaced. What it keeps must be exactly what the round trip kept: the
 * number where the number gives back the same text, the string otherwise (a day its month lacks,
 * 29 February of a year that is no leap year, fields out of range, other formats).
 */
function roundTrip(text: string): number | string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return text;
  return new Date(ms).toISOString() === text ? ms : text;
}

const padded = (width: number, max: number) =>
  fc.integer({ min: 0, max }).map((n) => String(n).padStart(width, '0'));

/** toISOString's shape with each field drawn past its range (month 19, day 39, hour 29, minute 69). */
const isoShaped = fc
  .record({
    // Leap-year rules at their edges (every 4th, not every 100th, every 400th) as often as any year.
    year: fc.oneof(padded(4, 9999), fc.constantFrom('0000', '1900', '2000', '2024', '2025', '2100', '2400')),
    month: fc.oneof(padded(2, 19), fc.constantFrom('02', '04', '06', '09', '11', '12')),
    day: fc.oneof(padded(2, 39), fc.constantFrom('28', '29', '30', '31')),
    hour: padded(2, 29),
    minute: padded(2, 69),
    second: padded(2, 69),
    ms: padded(3, 999),
  })
  .map((f) => `${f.year}-${f.month}-${f.day}T${f.hour}:${f.minute}:${f.second}.${f.ms}Z`);

/** Such a text with one character replaced, removed or added. */
const nearlyIsoShaped = fc
  .tuple(isoShaped, fc.nat(), fc.constantFrom('', '0', '9', ' ', '+', '-', 'Z', 'T', ':', '.', 'z', '٣'))
  .chain(([text, at, char]) =>
    fc.constantFrom(
      text.slice(0, at % 25) + char + text.slice((at % 25) + 1),
      text.slice(0, at % 25) + char + text.slice(at % 25),
    ),
  );

describe('credentials-dates: storedDate keeps what the toISOString round trip kept', () => {
  it('for texts in toISOString’s shape, fields in and out of range', () => {
    fc.assert(
      fc.property(isoShaped, (text) => assert.deepEqual(storedDate(text), roundTrip(text), text)),
      { numRuns: 50_000 },
    );
  });

  it('for texts one character off that shape, and any other text', () => {
    fc.assert(
      fc.property(fc.oneof(nearlyIsoShaped, fc.string()), (text) =>
        assert.deepEqual(storedDate(text), roundTrip(text), text),
      ),
      { numRuns: 20_000 },
    );
  });

  it('for every date a number gives (years 0 to 9999 written as they are, others as toISOString writes)', () => {
    const range = fc.date({
      min: new Date('-000100-01-01T00:00:00.000Z'),
      max: new Date('+012000-01-01T00:00:00.000Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(range, (date) => {
        const text = date.toISOString();
        assert.equal(storedDate(text), date.getTime(), text);
      }),
      { numRuns: 50_000 },
    );
  });

  it('at the days months lack and leap days', () => {
    for (const text of [
      '2023-02-29T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '1900-02-29T12:00:00.000Z',
      '2000-02-29T12:00:00.000Z',
      '2026-04-31T23:59:59.999Z',
      '2026-12-31T23:59:59.999Z',
      '0000-02-29T00:00:00.000Z',
    ]) {
      assert.deepEqual(storedDate(text), roundTrip(text), text);
    }
    assert.equal(storedDate('2023-02-29T00:00:00.000Z'), '2023-02-29T00:00:00.000Z');
    assert.equal(storedDate('2024-02-29T00:00:00.000Z'), Date.parse('2024-02-29T00:00:00.000Z'));
  });
});

/**
 * dateText writes a number's date byte by byte, its day's "YYYY-MM-DDT" kept, where it called
 * toISOString: its text must be toISOString's for every number a date may hold, alone or in runs of
 * the same instant and of the same day (its caches).
 */
describe('credentials-dates: dateText writes what toISOString writes', () => {
  const instant = fc.oneof(
    fc.integer({ min: -8.64e15, max: 8.64e15 }),
    fc.integer({ min: 0, max: 253_402_300_799_999 }),
    fc.integer({ min: 253_402_300_700_000, max: 253_402_300_900_000 }),
    fc.integer({ min: -100_000, max: 100_000 }),
    fc.double({ min: -1e13, max: 1e13, noNaN: true }),
  );
  it('for any instant, in runs that share days and instants', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(instant, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 20 }),
        (seeds) => {
          for (const [ms, repeat] of seeds) {
            // The same instant again, then later instants of its day (and the next).
            for (const at of [ms, ms, ms + repeat * 3_600_000 + repeat, ms + 86_400_000 * repeat]) {
              if (Math.abs(at) > 8.64e15) continue;
              assert.equal(dateText(at), new Date(at).toISOString(), String(at));
            }
          }
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('for the instants at the edges of its fast path', () => {
    for (const at of [
      0, -1, 1, 86_399_999, 86_400_000, 253_402_300_799_999, 253_402_300_800_000, 0.5, -0.5,
    ]) {
      assert.equal(dateText(at), new Date(at).toISOString(), String(at));
    }
    assert.equal(dateText('2026-01-01T00:00:00Z'), '2026-01-01T00:00:00Z');
  });
});
