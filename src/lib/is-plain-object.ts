/**
 * Whether `value` is what JSON calls an object: not null, not an array. What
 * a parsed config file, a stored record or a request body must be before its
 * keys are read.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
