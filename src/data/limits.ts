import { MAX_JSON_DEPTH } from '../lib/json-depth.js';
import { DataError } from './errors.js';
import { isPrototypeKey } from './keys.js';

/**
 * What the data API stores is bounded, so every later read (a list, `q`,
 * `/db`, the rewrite of db.json) can serialize and walk it: JSON.stringify
 * and any recursive walk fail with a stack overflow a few thousand levels
 * down, and a record that grows by PATCH after PATCH would make every list
 * heavier for good.
 */

/**
 * Refuses (400) a value nested deeper than MAX_JSON_DEPTH (a record itself is level 1) or holding a key that
 * reaches a prototype (`__proto__`, `constructor`, `prototype`) at any level.
 * Iterative, so the check itself cannot overflow the stack whatever it is given.
 */
export function assertStorable(value: unknown): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current === 'number') assertFinite(current);
    if (current === null || typeof current !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) {
      throw new DataError('validation_failed', `The body is nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const [key, item] of Object.entries(current)) {
      if (isPrototypeKey(key)) {
        throw new DataError('validation_failed', `A field may not be named ${key}`);
      }
      stack.push({ value: item, depth: depth + 1 });
    }
  }
}

/**
 * JSON.parse reads a literal beyond a double's range (`1e400`) as Infinity, which JSON cannot write:
 * the record was stored as Infinity and written to disk as null, so one POSTed with `"id": 1e400`
 * answered `"id": null`, was found at /notes/Infinity until a restart, and by no id after it.
 */
function assertFinite(value: number): void {
  if (!Number.isFinite(value))
    throw new DataError('validation_failed', 'A number in the body is out of range (JSON has no Infinity)');
}

/** Refuses (413) a record whose JSON would exceed `maxBytes` (call after assertStorable: it serializes). */
export function assertRecordSize(record: unknown, maxBytes: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(record));
  if (bytes > maxBytes) {
    throw new DataError(
      'payload_too_large',
      `A record may hold at most ${maxBytes} bytes of JSON (got ${bytes})`,
    );
  }
}
