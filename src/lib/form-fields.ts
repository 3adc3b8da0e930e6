/**
 * The fields of an application/x-www-form-urlencoded body (URLSearchParams: WHATWG's form decoding),
 * in an object without a prototype, so that a `__proto__` or `constructor` field is data like any
 * other. A field given more than once keeps every value in order, as Node's querystring did for
 * json-server's body parser; `repeated` names the first such field, for callers that take none.
 */
export function formFields(text: string): {
  fields: Record<string, string | string[]>;
  repeated: string | null;
} {
  const fields = Object.create(null) as Record<string, string | string[]>;
  let repeated: string | null = null;
  for (const [name, value] of new URLSearchParams(text)) {
    const earlier = fields[name];
    if (earlier === undefined) {
      // eslint-disable-next-line no-restricted-syntax -- fields has no prototype (above)
      fields[name] = value;
      continue;
    }
    repeated ??= name;
    // Appended in place: a copy per repeat made a 100 KB body of one field repeated cost seconds of
    // the event loop (quadratic), before any route could refuse it.
    if (typeof earlier === 'string') {
      // eslint-disable-next-line no-restricted-syntax -- fields has no prototype (above)
      fields[name] = [earlier, value];
    } else {
      earlier.push(value);
    }
  }
  return { fields, repeated };
}
