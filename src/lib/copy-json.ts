/** Levels copied here; a value nested deeper is handed to structuredClone whole (restauth writes 32 at most). */
const MAX_DEPTH = 64;

/**
 * A deep copy of a JSON value (a stored record's fields: objects, arrays, strings, numbers, booleans,
 * null), as structuredClone makes it: the same own keys in the same order (`__proto__` included, as
 * an own key), arrays with the same holes. Anything else (a Date, a class's instance, a function, a
 * value nested past MAX_DEPTH) goes to structuredClone itself, which copies or refuses it as before.
 * Why not structuredClone for all: it serializes and deserializes through V8's C++ serializer, and
 * during an argon2id login storm its copies of the signed-in user's profile and app_metadata (4 per
 * login on the file store) were about 2 % of the event loop's CPU (perf), several times this.
 */
export function copyJson<T>(value: T): T {
  return copy(value, 0) as T;
}

function copy(value: unknown, depth: number): unknown {
  if (value === null) return null;
  const type = typeof value;
  if (type !== 'object') return type === 'function' || type === 'symbol' ? structuredClone(value) : value;
  if (depth >= MAX_DEPTH) return structuredClone(value);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value) && prototype === Array.prototype)
    return value.map((item: unknown) => copy(item, depth + 1));
  if (prototype !== Object.prototype && prototype !== null) return structuredClone(value);
  // fromEntries defines each key as an own property: a `__proto__` key stays a key, as JSON.parse made it.
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, copy(item, depth + 1)]),
  );
}
